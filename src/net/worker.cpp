#include "net/worker.hpp"

#include <uv.h>

namespace net {

struct SerialWorker::Job {
    uv_work_t req{};
    std::shared_ptr<SerialWorker> owner;
    std::function<void()> work, done;
};

SerialWorker::SerialWorker(Loop& loop) : loop_{loop} {}
SerialWorker::~SerialWorker() = default;

std::shared_ptr<SerialWorker> SerialWorker::make(Loop& loop) {
    return std::shared_ptr<SerialWorker>{new SerialWorker{loop}};
}

void SerialWorker::post(std::function<void()> work, std::function<void()> done) {
    auto job = std::make_unique<Job>();
    job->work = std::move(work);
    job->done = std::move(done);
    queue_.push_back(std::move(job));
    run_next();
}

void SerialWorker::run_next() {
    if (running_ || queue_.empty()) return;
    Job* job = queue_.front().release();
    queue_.pop_front();
    job->owner = shared_from_this();
    job->req.data = job;
    running_ = true;
    int r = uv_queue_work(loop_.get(), &job->req,
        [](uv_work_t* req) { static_cast<Job*>(req->data)->work(); },
        [](uv_work_t* req, int) {
            std::unique_ptr<Job> j{static_cast<Job*>(req->data)};
            auto self = std::move(j->owner);
            self->running_ = false;
            if (j->done) j->done();
            self->run_next();
        });
    if (r != 0) {  // only with a bad loop: run it here rather than lose a delete
        std::unique_ptr<Job> j{job};
        j->owner.reset();
        j->work();
        running_ = false;
        if (j->done) j->done();
        run_next();
    }
}

}  // namespace net
