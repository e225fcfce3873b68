#include <doctest/doctest.h>

#include <algorithm>
#include <array>

#include "base/rng.hpp"
#include "dht/routing_table.hpp"

using namespace std::chrono_literals;

namespace {
base::Endpoint ep(int i) { return base::Endpoint::v4(127, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 4000); }
base::TimePoint at(base::Duration d) { return base::TimePoint{} + d; }
}  // namespace

TEST_CASE("routing table: a full bucket keeps the long-lived contact and pings the stale one") {
    base::SeededRng rng{7};
    dht::Config cfg;
    cfg.k = 4;
    cfg.replacement_cache = 2;
    auto self = dht::NodeId::random(rng);
    dht::RoutingTable t{self, cfg};
    // Fill bucket 0 (IDs differing in the first bit) so it cannot split.
    std::vector<dht::NodeId> far;
    for (int i = 0; i < 4; ++i) {
        far.push_back(dht::random_with_prefix(self, 0, rng));
        CHECK(t.heard_from(far.back(), ep(i), at(1s)).outcome == dht::RoutingTable::Outcome::added);
    }
    // The bucket holding our own ID splits; bucket 0 does not.
    auto newcomer = dht::random_with_prefix(self, 0, rng);
    SUBCASE("fresh contacts: the newcomer waits in the replacement cache, nobody is pinged") {
        auto r = t.heard_from(newcomer, ep(10), at(2s));
        CHECK(r.outcome == dht::RoutingTable::Outcome::cached);
        CHECK_FALSE(r.ping);
        CHECK(t.find(far[0]));
        CHECK_FALSE(t.find(newcomer));
    }
    SUBCASE("stale oldest contact: pinged, evicted only when the ping fails") {
        auto r = t.heard_from(newcomer, ep(10), at(1s + cfg.stale_after + 1s));
        CHECK(r.outcome == dht::RoutingTable::Outcome::cached);
        REQUIRE(r.ping);
        CHECK(r.ping->id == far[0]);
        // A second newcomer does not ping again while the first ping is outstanding.
        CHECK_FALSE(t.heard_from(dht::random_with_prefix(self, 0, rng), ep(11), at(1s + cfg.stale_after + 2s)).ping);
        CHECK(t.failed(far[0]));
        CHECK_FALSE(t.find(far[0]));
        CHECK(t.size() == 4);
    }
    SUBCASE("stale contact that answers stays") {
        auto r = t.heard_from(newcomer, ep(10), at(1s + cfg.stale_after + 1s));
        REQUIRE(r.ping);
        t.heard_from(far[0], ep(0), at(1s + cfg.stale_after + 2s), 5ms);
        CHECK(t.find(far[0]));
        CHECK(t.find(far[0])->failures == 0);
        CHECK_FALSE(t.find(newcomer));
    }
}

TEST_CASE("routing table: contacts that fail repeatedly are dropped") {
    base::SeededRng rng{8};
    dht::Config cfg;
    cfg.max_failures = 3;
    auto self = dht::NodeId::random(rng);
    dht::RoutingTable t{self, cfg};
    auto id = dht::random_with_prefix(self, 0, rng);
    t.heard_from(id, ep(1), at(1s));
    CHECK_FALSE(t.failed(id));
    CHECK_FALSE(t.failed(id));
    CHECK(t.find(id)->failures == 2);
    CHECK(t.failed(id));
    CHECK_FALSE(t.find(id));
}

TEST_CASE("routing table: splits around our own ID and returns the closest contacts in order") {
    base::SeededRng rng{9};
    dht::Config cfg;
    cfg.k = 8;
    auto self = dht::NodeId::random(rng);
    dht::RoutingTable t{self, cfg};
    std::vector<dht::NodeId> ids;
    for (int i = 0; i < 500; ++i) {
        ids.push_back(dht::NodeId::random(rng));
        t.heard_from(ids.back(), ep(i), at(1s));
    }
    CHECK(t.buckets().size() > 3);
    for (auto& b : t.buckets()) CHECK(b.live.size() <= cfg.k);
    CHECK(t.heard_from(self, ep(999), at(1s)).outcome == dht::RoutingTable::Outcome::self);
    auto target = dht::NodeId::random(rng);
    auto closest = t.closest(target, 8);
    REQUIRE(closest.size() == 8);
    for (size_t i = 1; i < closest.size(); ++i) CHECK(dht::closer(closest[i - 1].id, closest[i].id, target));
    // Every contact the table holds that is closer than the 8th must be in the answer.
    for (auto& b : t.buckets())
        for (auto& c : b.live)
            if (dht::closer(c.id, closest.back().id, target))
                CHECK(std::any_of(closest.begin(), closest.end(), [&](auto& n) { return n.id == c.id; }));
}

TEST_CASE("routing table: closest() matches a sort of the whole table, failed contacts last") {
    // closest() reads only the buckets that can hold the answer; a full sort is the reference.
    base::SeededRng rng{11};
    dht::Config cfg;
    cfg.k = 8;
    cfg.max_failures = 5;
    auto self = dht::NodeId::random(rng);
    dht::RoutingTable t{self, cfg};
    for (int i = 0; i < 2000; ++i) t.heard_from(dht::NodeId::random(rng), ep(i), at(1s));
    for (int prefix = 1; prefix < 12; ++prefix)  // the near buckets, which random IDs rarely reach
        for (int i = 0; i < 6; ++i) t.heard_from(dht::random_with_prefix(self, prefix, rng), ep(3000 + prefix * 10 + i), at(1s));
    std::vector<dht::NodeId> all;
    for (auto& b : t.buckets())
        for (auto& c : b.live) all.push_back(c.id);
    REQUIRE(t.buckets().size() > 8);
    for (size_t i = 0; i < all.size(); i += 3) t.failed(all[i]);  // a third fail once (some are replaced)
    all.clear();
    size_t failing = 0;
    for (auto& b : t.buckets())
        for (auto& c : b.live) {
            all.push_back(c.id);
            failing += c.failures > 0;
        }
    REQUIRE(failing >= 5);  // those that no replacement took the place of
    for (int round = 0; round < 300; ++round) {
        dht::NodeId target = round % 3 == 0   ? dht::NodeId::random(rng)
                             : round % 3 == 1 ? dht::random_with_prefix(self, static_cast<int>(rng.uniform(14)), rng)
                                              : (round == 2 ? self : all[rng.uniform(all.size())]);
        size_t n = std::array<size_t, 4>{1, 8, 20, 64}[rng.uniform(4)];
        auto want = all;
        std::sort(want.begin(), want.end(), [&](auto& a, auto& b) {
            bool fa = t.find(a)->failures > 0, fb = t.find(b)->failures > 0;
            return fa != fb ? !fa : dht::closer(a, b, target);
        });
        want.resize(std::min(n, want.size()));
        auto got = t.closest(target, n);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].id == want[i]);
    }
}

TEST_CASE("routing table: an unusable endpoint is refused") {
    base::SeededRng rng{10};
    dht::Config cfg;
    dht::RoutingTable t{dht::NodeId::random(rng), cfg};
    CHECK(t.heard_from(dht::NodeId::random(rng), base::Endpoint::v4(0, 0, 0, 0, 5), at(1s)).outcome ==
          dht::RoutingTable::Outcome::invalid);
    CHECK(t.heard_from(dht::NodeId::random(rng), base::Endpoint::v4(1, 2, 3, 4, 0), at(1s)).outcome ==
          dht::RoutingTable::Outcome::invalid);
    CHECK(t.size() == 0);
}

TEST_CASE("routing table: a full bucket keeps at most 2 contacts of one public /24; LAN and loopback exempt") {
    dht::Config cfg;
    cfg.k = 4;
    dht::NodeId self;  // all zeros: random IDs fall in the first buckets
    dht::RoutingTable t{self, cfg};
    base::SeededRng rng{9};
    auto random_id = [&] {
        dht::NodeId id;
        rng.fill(std::as_writable_bytes(std::span{id.bytes()}));
        id.bytes()[0] |= 0x80;  // all in bucket 0, which never splits (self is not in it)
        return id;
    };
    auto now = base::TimePoint{} + 1s;
    using O = dht::RoutingTable::Outcome;
    // While the bucket has room, anyone comes in: a small network may share one /24.
    auto third = random_id();
    CHECK(t.heard_from(random_id(), base::Endpoint::v4(203, 0, 113, 1, 1000), now).outcome == O::added);
    CHECK(t.heard_from(random_id(), base::Endpoint::v4(203, 0, 113, 2, 1000), now).outcome == O::added);
    CHECK(t.heard_from(third, base::Endpoint::v4(203, 0, 113, 3, 1000), now).outcome == O::added);
    CHECK(t.heard_from(random_id(), base::Endpoint::v4(203, 0, 114, 3, 1000), now).outcome == O::added);
    // Full: more of that /24 are refused; one from elsewhere displaces the /24's newest.
    CHECK(t.heard_from(random_id(), base::Endpoint::v4(203, 0, 113, 4, 1000), now).outcome == O::crowded);
    CHECK(t.heard_from(random_id(), base::Endpoint::v4(198, 51, 100, 9, 1000), now).outcome == O::added);
    CHECK(t.size() == 4);
    CHECK_FALSE(t.find(third));
    // Now no /24 holds more than 2: a newcomer waits in the replacement cache as usual.
    CHECK(t.heard_from(random_id(), base::Endpoint::v4(198, 51, 101, 9, 1000), now).outcome == O::cached);

    // LAN and loopback addresses fill a bucket without limit, and are never displaced.
    dht::RoutingTable lan{self, cfg};
    for (uint8_t i = 1; i < 3; ++i) {
        CHECK(lan.heard_from(random_id(), base::Endpoint::v4(192, 168, 1, i, 1000), now).outcome == O::added);
        CHECK(lan.heard_from(random_id(), base::Endpoint::v4(127, 0, 0, 1, static_cast<uint16_t>(2000 + i)), now).outcome == O::added);
    }
    CHECK(lan.heard_from(random_id(), base::Endpoint::v4(198, 51, 100, 9, 1000), now).outcome == O::cached);
    CHECK(lan.size() == 4);
}
