#pragma once
// One place where the protocol cores run their due work: once per loop turn, just before the loop
// waits for I/O (a uv_prepare handle), every core that was fed since the last turn, or whose
// timer fired, is ticked, and its one timer is re-armed to the deadline tick() returned. Event
// handlers only feed a core and mark it; none of them re-arms anything itself.
//
// A tick may feed another core (a DHT lookup completing starts a connection): the turn goes
// round again, up to kMaxRounds times; whatever is still due after that runs on the next turn,
// after the loop has polled for I/O, so a core that always has work cannot starve the sockets.
#include <functional>
#include <memory>
#include <vector>

#include "base/status.hpp"
#include "base/time.hpp"
#include "net/udp_socket.hpp"
#include "net/uv_handle.hpp"

namespace net {

class LoopTurn {
public:
    static constexpr int kMaxRounds = 8;
    // Runs due work at `now`; returns when to run again (kNever: only when fed).
    using Tick = std::function<base::TimePoint(base::TimePoint now)>;

    class Core {
    public:
        ~Core();
        Core(const Core&) = delete;
        Core& operator=(const Core&) = delete;
        // The core was fed: tick it this turn. Cheap; call it as often as you like.
        void mark();

    private:
        friend class LoopTurn;
        Core(LoopTurn& turn, Tick tick) : turn_{turn}, tick_{std::move(tick)} {}
        LoopTurn& turn_;
        Tick tick_;
        std::unique_ptr<Timer> timer_;
        bool marked_ = false;
    };

    static base::Result<std::unique_ptr<LoopTurn>> make(Loop& loop);
    LoopTurn(const LoopTurn&) = delete;
    LoopTurn& operator=(const LoopTurn&) = delete;
    // REQUIRES: the core is destroyed before the turn.
    base::Result<std::unique_ptr<Core>> add(Tick tick);
    // Runs the marked cores now (tests and tools that drive the loop by hand).
    void run_now();
    uint64_t turns() const { return turns_; }

private:
    LoopTurn(Loop& loop, UvHandle<uv_prepare_t> h) : loop_{loop}, handle_{std::move(h)} {}
    void forget(Core* c);
    Loop& loop_;
    UvHandle<uv_prepare_t> handle_;
    std::vector<Core*> marked_;
    std::vector<Core*> batch_;  // the round being run; a core destroyed meanwhile is nulled here
    uint64_t turns_ = 0;
};

}  // namespace net
