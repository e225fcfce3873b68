#include "cli/commit_sync.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace cli {

struct CommitSync::Batch {
    std::shared_ptr<CommitSync*> owner;
    size_t left = 0;
    int err = 0;
};

namespace {
struct SyncReq {
    uv_fs_t req{};
    int fd = -1;
    std::shared_ptr<void> batch;
};
}  // namespace

CommitSync::CommitSync(net::Loop& loop, chat::GroupCommit& group, std::function<void(const std::string&)> on_failed)
    : loop_{loop}, group_{group}, on_failed_{std::move(on_failed)}, self_{std::make_shared<CommitSync*>(this)} {}

CommitSync::~CommitSync() { *self_ = nullptr; }

void CommitSync::kick() {
    if (!group_.due()) return;
    auto fds = group_.begin();
    auto batch = std::make_shared<Batch>();
    batch->owner = self_;
    batch->left = fds.size();
    if (fds.empty()) return done(true, 0);
    for (int fd : fds) {
        auto* r = new SyncReq;
        r->fd = fd;
        r->batch = batch;
        r->req.data = r;
        int rc = uv_fs_fdatasync(loop_.get(), &r->req, fd, [](uv_fs_t* req) {
            auto* r = static_cast<SyncReq*>(req->data);
            auto b = std::static_pointer_cast<Batch>(r->batch);
            if (req->result < 0) b->err = static_cast<int>(-req->result);
            uv_fs_req_cleanup(req);
            ::close(r->fd);
            delete r;
            if (--b->left == 0 && *b->owner) (*b->owner)->done(b->err == 0, b->err);
        });
        if (rc < 0) {  // could not even queue it: sync here rather than call it durable
            if (::fdatasync(fd) != 0) batch->err = errno;
            ::close(fd);
            delete r;
            if (--batch->left == 0) done(batch->err == 0, batch->err);
        }
    }
}

void CommitSync::done(bool ok, int err) {
    group_.finish(ok);
    if (!ok && on_failed_) on_failed_(std::string{"cannot sync the chat journals: "} + std::strerror(err));
    kick();
}

}  // namespace cli
