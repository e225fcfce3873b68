#include "chat/group_commit.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chat {

GroupCommit::~GroupCommit() {
    for (auto& [id, fd] : dirty_)
        if (fd >= 0) ::close(fd);
}

void GroupCommit::dirty(uint64_t id, int fd) {
    ++counts_.records;
    if (dirty_.count(id)) return;
    bool first = dirty_.empty();
    int d = ::dup(fd);
    if (d < 0) dup_failed_ = true;  // out of descriptors: report the batch as failed, never as durable
    dirty_[id] = d;
    if (first && on_dirty) on_dirty();
}

void GroupCommit::after_durable(std::function<void(bool)> fn) {
    if (!dirty_.empty()) {
        waiting_.push_back(std::move(fn));
    } else if (in_flight_) {
        flight_.push_back(std::move(fn));  // everything it depends on is in the batch being synced
    } else {
        fn(true);
    }
}

std::vector<int> GroupCommit::begin() {
    std::vector<int> fds;
    for (auto& [id, fd] : dirty_)
        if (fd >= 0) fds.push_back(fd);
    dirty_.clear();
    in_flight_ = true;
    flight_failed_ = dup_failed_;
    dup_failed_ = false;
    flight_ = std::move(waiting_);
    waiting_.clear();
    counts_.syncs += fds.size();
    return fds;
}

void GroupCommit::finish(bool ok) {
    ok = ok && !flight_failed_;
    flight_failed_ = false;
    in_flight_ = false;
    ++counts_.batches;
    if (!ok) ++counts_.failures;
    auto fns = std::move(flight_);
    flight_.clear();
    for (auto& fn : fns) fn(ok);
}

base::Status GroupCommit::sync_now() {
    if (dirty_.empty()) return {};
    bool ok = true;
    int err = 0;
    for (int fd : begin()) {
        if (::fdatasync(fd) != 0) {
            ok = false;
            err = errno;
        }
        ::close(fd);
    }
    finish(ok);
    if (!ok) return base::io_error(std::string{"cannot sync the chat journals: "} + std::strerror(err));
    return {};
}

}  // namespace chat
