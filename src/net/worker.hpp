#pragma once
// Blocking work off the loop thread (libuv's thread pool), one job at a time and in order: the
// port-mapping libraries block for seconds, and a delete must never overtake the request it undoes.
// The worker lives until its last job has finished, even if its owner is gone by then (a mapping
// deleted at exit): each job holds it, and the loop keeps running until the job is done.
#include <deque>
#include <functional>
#include <memory>

#include "net/uv_handle.hpp"

namespace net {

class SerialWorker : public std::enable_shared_from_this<SerialWorker> {
public:
    static std::shared_ptr<SerialWorker> make(Loop& loop);
    ~SerialWorker();
    // `work` runs on a pool thread; `done` (may be empty) on the loop thread after it. A job shares
    // nothing with the loop thread but what its owner hands it under that rule.
    void post(std::function<void()> work, std::function<void()> done);
    bool busy() const { return running_ || !queue_.empty(); }

private:
    explicit SerialWorker(Loop& loop);
    struct Job;
    void run_next();

    Loop& loop_;
    std::deque<std::unique_ptr<Job>> queue_;
    bool running_ = false;
};

}  // namespace net
