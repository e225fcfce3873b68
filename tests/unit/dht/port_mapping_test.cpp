// The port-mapping schedule, sans-I/O under a simulated clock (PROTOCOL.md §19): the first
// request at once, renewal at half the lifetime, a failed renewal kept until expiry, backoff while
// no gateway maps, and a reset when the network changes.
#include <doctest/doctest.h>

#include "dht/port_mapping.hpp"

using namespace std::chrono_literals;

namespace {
const base::TimePoint t0 = base::TimePoint{} + 1000s;
const base::Endpoint kExt = base::Endpoint::v4(11, 113, 0, 70, 44544);

dht::PortMapping grant(base::Duration lifetime, base::Endpoint ext = kExt) {
    return {"natpmp", "10.50.0.1", ext, true, lifetime, {}};
}
}  // namespace

TEST_CASE("port mapping: asked at once, renewed at half its lifetime, one attempt at a time") {
    dht::PortMapSchedule s;
    REQUIRE(s.due(t0));
    s.started(t0);
    CHECK_FALSE(s.due(t0 + 1h));  // the attempt is still running
    CHECK(s.next(t0) == base::kNever);
    CHECK(s.on_granted(grant(3600s), t0 + 1s));  // a new endpoint to publish
    REQUIRE(s.current());
    CHECK(s.current()->external == kExt);
    CHECK(s.expires_at() == t0 + 1s + 3600s);
    CHECK(s.next(t0 + 1s) == t0 + 1s + 1800s);
    CHECK_FALSE(s.due(t0 + 1800s));
    CHECK(s.due(t0 + 1801s));
    s.started(t0 + 1801s);
    CHECK_FALSE(s.on_granted(grant(3600s), t0 + 1802s));  // the same endpoint: nothing to republish
    CHECK(s.on_granted(grant(3600s, base::Endpoint::v4(11, 113, 0, 70, 50000)), t0 + 1803s));
    CHECK(s.attempts() == 2);
}

TEST_CASE("port mapping: a failed renewal keeps the mapping until it expires, then it is lost") {
    dht::PortMapSchedule s;
    s.started(t0);
    s.on_granted(grant(600s), t0);
    auto t = t0 + 300s;
    REQUIRE(s.due(t));
    s.started(t);
    CHECK_FALSE(s.on_failed("NAT-PMP: the gateway did not answer", t));
    CHECK(s.current());                 // still held: it has 300 s left
    CHECK(s.last_error() == "NAT-PMP: the gateway did not answer");
    CHECK(s.next(t) == t + 30s);        // tried again well before it expires
    while (s.current()) {
        t = s.next(t);
        if (s.expire(t)) break;
        REQUIRE(s.due(t));
        s.started(t);
        s.on_failed("still nothing", t);
    }
    CHECK_FALSE(s.current());
    CHECK(t == t0 + 600s);  // lost exactly at expiry, not before
}

TEST_CASE("port mapping: with no gateway, attempts back off to the maximum") {
    dht::PortMapConfig cfg;
    dht::PortMapSchedule s{cfg};
    auto t = t0;
    std::vector<base::Duration> gaps;
    for (int i = 0; i < 9; ++i) {
        REQUIRE(s.due(t));
        s.started(t);
        CHECK_FALSE(s.on_failed("UPnP: no Internet gateway device answered", t));
        auto n = s.next(t);
        gaps.push_back(n - t);
        t = n;
    }
    CHECK(gaps[0] == cfg.retry);
    CHECK(gaps[1] == 2 * cfg.retry);
    CHECK(gaps.back() == cfg.retry_max);
    CHECK(s.failures() == 9);
    SUBCASE("a grant ends the backoff") {
        s.started(t);
        s.on_granted(grant(3600s), t);
        CHECK(s.last_error().empty());
    }
}

TEST_CASE("port mapping: a permanent lease is checked now and then; a reset asks again at once") {
    dht::PortMapSchedule s;
    s.started(t0);
    s.on_granted(grant(0s), t0);  // an IGD that grants only permanent leases
    CHECK(s.expires_at() == base::kNever);
    CHECK(s.next(t0) == t0 + dht::PortMapConfig{}.recheck);
    CHECK_FALSE(s.expire(t0 + 100h));
    SUBCASE("the network changed") {
        CHECK(s.reset(t0 + 5s));   // there was a mapping to withdraw
        CHECK_FALSE(s.current());
        CHECK(s.due(t0 + 5s));
    }
    SUBCASE("a short grant is renewed at half its lifetime, but never faster than once a second") {
        s.started(t0 + 1s);
        s.on_granted(grant(10s), t0 + 1s);
        CHECK(s.next(t0 + 1s) == t0 + 6s);
        s.started(t0 + 6s);
        s.on_granted(grant(1s), t0 + 6s);
        CHECK(s.next(t0 + 6s) == t0 + 7s);
    }
}
