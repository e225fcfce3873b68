#pragma once
// An append-only file of records, one per line, each line carrying its own checksum:
//     <8 hex: first 4 bytes of BLAKE2b-256 of the text> <space> <text> <newline>
// where text is one JSON document without newlines. Appends are written with O_APPEND and made
// durable with fdatasync before append() returns, so a record that was acknowledged survives
// kill -9 and power loss. An append that fails (a full disk) truncates the file back to where
// its line began, so no torn line is left for the next record to glue onto. Reading back never throws data away: a line whose checksum fails is
// reported (with its line number) and skipped, the others are returned; a last line without its
// newline (a crash mid-append) is ended with one at open, so new records never glue onto it, and
// is kept if its checksum holds. Nothing is ever deleted.
// The shape follows LevelDB's log (db/log_format.h): checksummed records, torn tails detected.
// Groundwork for the chat outbox and history (issue #4).
#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.hpp"
#include "chat/group_commit.hpp"

namespace chat {

class Journal {
public:
    struct Recovered {
        std::vector<std::string> records;  // intact records, in file order
        std::vector<std::string> problems; // "line 7: checksum mismatch", "truncated last line (12 bytes)"
    };

    // Opens (creating, mode 0600) and reads `path`. Errc::io/permission if it cannot be opened;
    // damage inside the file is in Recovered::problems, not an error.
    static base::Result<Journal> open(const std::string& path, Recovered& out);
    Journal(Journal&& o) noexcept;
    Journal& operator=(Journal&&) = delete;
    ~Journal();

    // Atomically replaces the file at `path` with `records` (compaction): a temporary file is
    // written and synced, then renamed over it. A crash leaves either the old or the new file.
    static base::Status replace(const std::string& path, const std::vector<std::string>& records);

    // `record` must not contain a newline. Durable when OK is returned, unless the journal
    // defers its syncs to a group commit: then it is written (a full disk still fails here, and
    // leaves the file as it was) and durable once `group` says so.
    base::Status append(const std::string& record);
    void defer_sync(GroupCommit* group) {
        group_ = group;
        if (group_ && group_id_ == 0) group_id_ = group_->enroll();
    }
    const std::string& path() const { return path_; }

private:
    Journal(std::string path, int fd) : path_{std::move(path)}, fd_{fd} {}
    std::string path_;
    int fd_ = -1;
    off_t end_ = -1;  // where the next line begins, known after the first append (-1: ask the file)
    GroupCommit* group_ = nullptr;
    uint64_t group_id_ = 0;
};

}  // namespace chat
