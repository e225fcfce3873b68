#include "net/loop_turn.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace net {

base::Result<std::unique_ptr<LoopTurn>> LoopTurn::make(Loop& loop) {
    auto h = UvHandle<uv_prepare_t>::make([&](uv_prepare_t* p) { return uv_prepare_init(loop.get(), p); });
    if (!h) return h.status();
    std::unique_ptr<LoopTurn> t{new LoopTurn(loop, std::move(*h))};
    t->handle_.get()->data = t.get();
    uv_prepare_start(t->handle_.get(), [](uv_prepare_t* p) {
        auto* self = static_cast<LoopTurn*>(p->data);
        if (!self) return;
        try {
            self->run_now();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bug: exception in a core's tick: %s\n", e.what());
        }
    });
    // The turn alone does not keep the loop running: only real work (sockets, timers) does.
    uv_unref(reinterpret_cast<uv_handle_t*>(t->handle_.get()));
    return t;
}

base::Result<std::unique_ptr<LoopTurn::Core>> LoopTurn::add(Tick tick) {
    std::unique_ptr<Core> c{new Core(*this, std::move(tick))};
    Core* raw = c.get();
    auto t = Timer::make(loop_, [raw] { raw->mark(); });
    if (!t) return t.status();
    c->timer_ = std::move(*t);
    return c;
}

void LoopTurn::Core::mark() {
    if (marked_) return;
    marked_ = true;
    turn_.marked_.push_back(this);
}

LoopTurn::Core::~Core() {
    turn_.forget(this);
    timer_.reset();
}

void LoopTurn::forget(Core* c) {
    marked_.erase(std::remove(marked_.begin(), marked_.end(), c), marked_.end());
    std::replace(batch_.begin(), batch_.end(), c, static_cast<Core*>(nullptr));
}

void LoopTurn::run_now() {
    ++turns_;
    for (int round = 0; round < kMaxRounds && !marked_.empty(); ++round) {
        batch_ = std::move(marked_);
        marked_.clear();
        for (size_t i = 0; i < batch_.size(); ++i) {
            Core* c = batch_[i];
            if (!c) continue;
            c->marked_ = false;
            base::TimePoint now = base::steady_now();
            base::TimePoint next = c->tick_(now);
            if (!batch_[i]) continue;  // the tick destroyed its own core
            if (next <= now) {
                c->mark();  // more to do at once: next round
                continue;
            }
            if (next == base::kNever) {
                c->timer_->stop();
                continue;
            }
            auto us = (next - now).count();
            // Round up so the timer never fires before the deadline and spins.
            c->timer_->start(static_cast<uint64_t>((us + 999) / 1000));
        }
        batch_.clear();
    }
    // Still due after kMaxRounds: on the next turn, after the loop has polled for I/O.
    for (Core* c : marked_) c->timer_->start(0);
}

}  // namespace net
