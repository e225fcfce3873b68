#pragma once
// Group commit for the chat journals: many appends, one fdatasync per batch, and nothing that
// depends on those appends leaves the node before they are durable.
//
// A journal in deferred mode writes its record (so a full disk still fails the append at once,
// and the journal cuts itself back) and reports itself dirty here instead of syncing. Whatever
// must not happen before the records written so far are durable (a message sent, an
// acknowledgement, a "delivered" shown) is handed to after_durable(). The runtime takes a batch
// (begin(): duplicates of the dirty descriptors, which it syncs off the loop thread), and reports
// the outcome (finish()), which runs the batch's held work in the order it was handed in.
// Appends made while a batch is being synced go into the next batch, so the disk is never idle
// while work waits and the loop thread never waits for the disk.
//
// Sans-I/O apart from dup()/fdatasync() in sync_now(): the caller decides where the syncs run.
// The shape is the commit queue of LevelDB's DBImpl::Write (one writer syncs for the group).
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "base/status.hpp"

namespace chat {

class GroupCommit {
public:
    GroupCommit() = default;
    GroupCommit(const GroupCommit&) = delete;
    GroupCommit& operator=(const GroupCommit&) = delete;
    ~GroupCommit();

    // A journal's identity for the batch (descriptor numbers are reused after a close).
    uint64_t enroll() { return ++next_journal_; }
    // Journal `id` wrote to `fd` and did not sync it. The descriptor is duplicated, so the
    // journal may close it before the batch is synced.
    void dirty(uint64_t id, int fd);
    // Runs `fn(true)` once every record written before this call is durable; `fn(false)` if the
    // sync failed. At once (synchronously) when nothing is waiting to be synced.
    void after_durable(std::function<void(bool durable)> fn);

    bool due() const { return !in_flight_ && !dirty_.empty(); }  // a batch can begin
    bool in_flight() const { return in_flight_; }
    bool idle() const { return !in_flight_ && dirty_.empty(); }
    // REQUIRES: due(). The descriptors to fdatasync; the caller closes them.
    std::vector<int> begin();
    // The batch from begin() is synced (ok) or not: its held work runs.
    void finish(bool ok);
    // Syncs everything dirty now, on this thread, and runs what waited (tests, shutdown).
    // REQUIRES: !in_flight().
    base::Status sync_now();

    // Called when a journal becomes dirty while nothing else was: the runtime schedules a batch.
    std::function<void()> on_dirty;

    struct Counts {
        uint64_t records = 0;   // deferred appends
        uint64_t batches = 0;   // batches synced
        uint64_t syncs = 0;     // fdatasync calls (one per journal per batch)
        uint64_t failures = 0;  // batches whose sync failed
    };
    const Counts& counts() const { return counts_; }

private:
    std::map<uint64_t, int> dirty_;  // journal id -> duplicated descriptor
    std::vector<std::function<void(bool)>> waiting_;  // for the next batch
    std::vector<std::function<void(bool)>> flight_;   // for the batch being synced
    bool in_flight_ = false;
    bool dup_failed_ = false;     // a descriptor could not be duplicated: the next batch fails
    bool flight_failed_ = false;  // ... the batch being synced
    uint64_t next_journal_ = 0;
    Counts counts_;
};

}  // namespace chat
