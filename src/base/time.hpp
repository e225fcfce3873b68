#pragma once
// One time type for real and simulated clocks: the protocol cores take `now` as a parameter and
// never read a clock themselves. The runtime feeds steady_clock readings; simulations feed virtual
// time starting at zero.
#include <chrono>
#include <cstdint>

namespace base {

using Duration = std::chrono::microseconds;
struct Clock {  // tag only; time_point arithmetic needs a clock type
    using duration = Duration;
    using rep = Duration::rep;
    using period = Duration::period;
    using time_point = std::chrono::time_point<Clock, Duration>;
    static constexpr bool is_steady = true;
};
using TimePoint = Clock::time_point;

inline constexpr TimePoint kNever = TimePoint::max();

// Reads the monotonic clock; used only by net/ and cli/.
inline TimePoint steady_now() {
    auto d = std::chrono::steady_clock::now().time_since_epoch();
    return TimePoint{std::chrono::duration_cast<Duration>(d)};
}

// Wall-clock time minus steady_now(): what the DHT core adds to `now` for the clock that query
// txids carry (PROTOCOL.md §4). Read again now and then, as NTP may step the wall clock.
inline Duration wall_offset() {
    auto wall = std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch());
    return wall - steady_now().time_since_epoch();
}

inline double to_ms(Duration d) { return static_cast<double>(d.count()) / 1000.0; }
inline int64_t to_ms_int(Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace base
