#pragma once
// Runs chat::GroupCommit's batches off the loop thread: each batch's descriptors are
// fdatasync'ed on libuv's thread pool (uv_fs_fdatasync), the loop goes on meanwhile, and the
// batch's held work runs on the loop thread when the last sync returns. A new batch begins as
// soon as the previous one ends and something is dirty, so one batch is in flight at a time.
#include <functional>
#include <memory>

#include "chat/group_commit.hpp"
#include "net/uv_handle.hpp"

namespace cli {

class CommitSync {
public:
    // `on_failed` is told (on the loop thread) when a batch could not be synced.
    CommitSync(net::Loop& loop, chat::GroupCommit& group, std::function<void(const std::string&)> on_failed);
    // A batch still in flight finishes in the thread pool; its held work is dropped.
    ~CommitSync();
    CommitSync(const CommitSync&) = delete;
    CommitSync& operator=(const CommitSync&) = delete;
    // Begins a batch if one is due (cheap; call it after any work that may have written).
    void kick();

private:
    struct Batch;
    void done(bool ok, int err);
    net::Loop& loop_;
    chat::GroupCommit& group_;
    std::function<void(const std::string&)> on_failed_;
    std::shared_ptr<CommitSync*> self_;  // nulled by the destructor: late completions find no one
};

}  // namespace cli
