#pragma once
// Every conversation, one Journal per peer (history/<peer hex>.log, mode 0600): message records
// and, appended later, their status changes and read marks. A damaged line in one file is
// reported and skipped; the file's other records and every other file are unaffected.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "chat/journal.hpp"
#include "crypto/envelope.hpp"

namespace chat {

using crypto::MessageId;
using crypto::PublicKey;

struct Entry {
    MessageId id{};
    PublicKey from{}, to{};
    std::string text;
    uint64_t ts_ms = 0;  // the sender's clock when it was written
    uint64_t seq = 0;    // the sender's per-conversation counter
    bool incoming = false;
    std::string status;  // out: sending, stored, delivered, expired; in: received
    bool read = true;    // incoming: seen by the user
};

class History {
public:
    // Loads every conversation in `dir` (created if missing). Damage is in `problems`.
    static base::Result<History> open(const std::string& dir, std::vector<std::string>& problems);

    // Appends are durable when `group` says so, not when the calls return (see GroupCommit).
    void defer_sync(GroupCommit* group);

    // Durable when OK (or with the group commit). REQUIRES: the id is new in that conversation (see has()).
    base::Status add(const PublicKey& peer, const Entry& e);
    base::Status set_status(const PublicKey& peer, const MessageId& id, const std::string& status);
    // Marks every incoming message of the conversation read; returns how many were unread.
    base::Result<size_t> mark_read(const PublicKey& peer);

    bool has(const PublicKey& peer, const MessageId& id) const;
    const Entry* find(const PublicKey& peer, const MessageId& id) const;
    // Oldest first; the last `limit` entries (0 = all). The peer's messages are in the order the
    // peer wrote them (by their sequence numbers), whatever order they arrived in.
    std::vector<Entry> conversation(const PublicKey& peer, size_t limit = 0) const;
    std::vector<PublicKey> peers() const;
    // Next sequence number for a message to `peer`.
    uint64_t next_seq(const PublicKey& peer) const;
    size_t unread(const PublicKey& peer) const;
    // Damage found in this peer's file when it was opened.
    const std::vector<std::string>& problems(const PublicKey& peer) const;

private:
    struct Conversation {
        std::unique_ptr<Journal> journal;
        std::vector<Entry> entries;
        crypto::IdMap<size_t> index;
        std::vector<std::string> problems;
        uint64_t max_out_seq = 0;
        size_t unread = 0;  // entries with read == false (the client asks at every redraw)
    };
    explicit History(std::string dir) : dir_{std::move(dir)} {}
    base::Result<Conversation*> conv(const PublicKey& peer);
    void apply(Conversation& c, const std::string& record, size_t n, const std::string& path);
    static void place(Conversation& c, Entry e);

    std::string dir_;
    std::map<PublicKey, Conversation> convs_;
    GroupCommit* group_ = nullptr;
};

}  // namespace chat
