// session::ReliableChannel on its own: two channels joined by a simulated datagram path with
// loss, reordering and duplication, under virtual time.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>

#include "base/rng.hpp"
#include "session/reliable.hpp"

using namespace std::chrono_literals;

namespace {

struct Pipe {
    base::TimePoint now = base::TimePoint{} + 1h;
    base::SeededRng rng{11};
    double loss = 0, duplicate = 0;
    base::Duration latency = 20ms, jitter = 0ms;
    session::ReliableConfig cfg;
    session::ReliableChannel a{cfg, now}, b{cfg, now};
    Pipe() = default;
    explicit Pipe(uint32_t first) : cfg{.initial_seq = first}, a{cfg, now}, b{cfg, now} {}
    std::multimap<base::TimePoint, std::pair<int, std::vector<uint8_t>>> wire;  // to side 0=a, 1=b
    std::vector<std::vector<uint8_t>> got_a, got_b;
    size_t largest = 0;

    void move_output() {
        for (int side = 0; side < 2; ++side) {
            auto& from = side == 0 ? a : b;
            for (auto& seg : from.take_output()) {
                largest = std::max(largest, seg.size());
                if (rng.unit() < loss) continue;
                int copies = rng.unit() < duplicate ? 2 : 1;
                for (int c = 0; c < copies; ++c) {
                    auto delay = latency + base::Duration{static_cast<int64_t>(rng.uniform(static_cast<uint64_t>(jitter.count()) + 1))};
                    wire.emplace(now + delay, std::make_pair(1 - side, seg));
                }
            }
        }
    }
    bool run_until(const std::function<bool()>& pred, base::Duration limit) {
        auto end = now + limit;
        while (!pred() && now < end) {
            move_output();
            auto next = std::min({a.tick(now), b.tick(now), end});
            if (!wire.empty()) next = std::min(next, wire.begin()->first);
            now = std::max(now, next);
            while (!wire.empty() && wire.begin()->first <= now) {
                auto [to, seg] = std::move(wire.begin()->second);
                wire.erase(wire.begin());
                (to == 0 ? a : b).on_segment(seg, now, to == 0 ? got_a : got_b);
            }
            a.tick(now);
            b.tick(now);
        }
        move_output();
        return pred();
    }
};

std::vector<uint8_t> msg(size_t n, uint8_t seed) {
    std::vector<uint8_t> m(n);
    for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(seed * 31 + i * 7);
    return m;
}

}  // namespace

TEST_CASE("reliable channel: messages of every size from 0 to 20 KB arrive whole, in order, once") {
    Pipe p;
    p.loss = 0.1;
    p.duplicate = 0.05;
    p.jitter = 30ms;
    std::vector<std::vector<uint8_t>> sent;
    for (size_t i = 0; i < 200; ++i) {
        sent.push_back(msg((i * 997) % 20000, static_cast<uint8_t>(i)));
        p.a.send(sent.back(), p.now);
    }
    sent.push_back({});  // an empty message is a message too
    p.a.send(sent.back(), p.now);
    REQUIRE(p.run_until([&] { return p.got_b.size() == sent.size(); }, 5min));
    CHECK(p.got_b == sent);
    CHECK(p.largest <= session::kMaxDatagram - session::kSessionDatagramOverhead);
    CHECK(p.a.stats().retransmits > 0);
    CHECK(p.b.stats().duplicates > 0);
    REQUIRE(p.run_until([&] { return p.a.queued_bytes() == 0; }, 1min));
}

TEST_CASE("reliable channel: a lost segment is repaired by fast retransmit, before the timeout") {
    Pipe p;
    for (int i = 0; i < 10; ++i) p.a.send(msg(1000, static_cast<uint8_t>(i)), p.now);
    auto out = p.a.take_output();
    REQUIRE(out.size() == 10);
    // Segment 2 is lost; the rest arrive.
    for (size_t i = 0; i < out.size(); ++i)
        if (i != 2) p.b.on_segment(out[i], p.now, p.got_b);
    CHECK(p.got_b.size() == 2);
    for (auto& ack : p.b.take_output()) p.a.on_segment(ack, p.now, p.got_a);
    auto again = p.a.take_output();
    REQUIRE(again.size() == 1);  // segment 2 once, at once
    CHECK(p.a.stats().fast_retransmits == 1);
    p.b.on_segment(again[0], p.now, p.got_b);
    CHECK(p.got_b.size() == 10);
}

TEST_CASE("reliable channel: hostile or broken segments are dropped and counted") {
    Pipe p;
    std::vector<std::vector<uint8_t>> junk = {
        {}, {7}, {0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0x80}, {1, 0, 0, 0, 0},
        {0, 0x7f, 0xff, 0xff, 0xff, 3, 1},  // far beyond any window
    };
    for (auto& j : junk) p.b.on_segment(j, p.now, p.got_b);
    CHECK(p.b.stats().malformed == junk.size());
    CHECK(p.got_b.empty());
    // An acknowledgement of what was never sent changes nothing.
    p.a.send(msg(10, 1), p.now);
    std::vector<uint8_t> ack = {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    p.a.on_segment(ack, p.now, p.got_a);
    CHECK(p.a.queued_bytes() > 0);
}

TEST_CASE("reliable channel: sequence numbers wrap around") {
    Pipe p{0xffffff00u};  // 256 segments before the wrap
    p.loss = 0.05;
    for (int round = 0; round < 8; ++round) {
        for (int i = 0; i < 100; ++i) p.a.send(msg(3, static_cast<uint8_t>(i)), p.now);
        REQUIRE(p.run_until([&] { return p.got_b.size() == static_cast<size_t>((round + 1) * 100); }, 1min));
    }
    CHECK(p.run_until([&] { return p.a.queued_bytes() == 0; }, 1min));
}

TEST_CASE("reliable channel: what was not acknowledged in full can be taken, whole, to go another way") {
    Pipe p;
    p.a.send(msg(3000, 1), p.now);  // three segments
    p.a.send(msg(10, 2), p.now);
    p.a.send(msg(10, 3), p.now);
    auto out = p.a.take_output();
    REQUIRE(out.size() == 5);
    // The first message arrives whole and is acknowledged; of the others only the last.
    for (size_t i : {0u, 1u, 2u, 4u}) p.b.on_segment(out[i], p.now, p.got_b);
    for (auto& ack : p.b.take_output()) p.a.on_segment(ack, p.now, p.got_a);
    auto left = p.a.take_unacknowledged();
    REQUIRE(left.size() == 2);  // message 2 (lost) and 3 (selectively acknowledged only)
    CHECK(left[0] == msg(10, 2));
    CHECK(left[1] == msg(10, 3));
    CHECK(p.a.take_unacknowledged().empty());
}
