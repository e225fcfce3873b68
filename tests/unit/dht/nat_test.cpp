// dht::NatAnalysis on its own: reports in, a mapping kind out; dial-back checks settled by what
// arrives and by what we had sent.
#include <doctest/doctest.h>

#include "dht/nat.hpp"

using namespace std::chrono_literals;
using dht::Filtering;
using dht::Mapping;

namespace {
base::Endpoint ep(uint8_t a, uint16_t port) { return base::Endpoint::v4(198, 51, 100, a, port); }
const base::TimePoint t0 = base::TimePoint{} + 1000h;
}  // namespace

TEST_CASE("nat analysis: the mapping from what repliers saw") {
    dht::NatAnalysis nat;
    base::Endpoint local = base::Endpoint::v4(10, 0, 0, 2, 44544);
    nat.set_local({local});
    CHECK(nat.mapping() == Mapping::unknown);
    SUBCASE("a report of our own address: no translation") {
        nat.on_observed(ep(1, 1), local, t0);
        CHECK(nat.mapping() == Mapping::none);
    }
    SUBCASE("three repliers on different addresses agree: endpoint-independent") {
        base::Endpoint pub = base::Endpoint::v4(203, 0, 113, 5, 44544);
        nat.on_observed(ep(1, 1), pub, t0);
        nat.on_observed(ep(2, 1), pub, t0);
        CHECK(nat.mapping() == Mapping::unknown);
        nat.on_observed(ep(2, 2), pub, t0);  // the same address again: still two reporters
        CHECK(nat.mapping() == Mapping::unknown);
        CHECK(nat.on_observed(ep(3, 1), pub, t0));
        CHECK(nat.mapping() == Mapping::independent);
        CHECK(nat.public_endpoints() == std::vector<base::Endpoint>{pub});
        // The reports age out: a moved laptop is not judged on old news.
        nat.on_observed(ep(4, 1), base::Endpoint::v4(203, 0, 113, 9, 1000), t0 + 10min);
        CHECK(nat.mapping() == Mapping::unknown);
    }
    SUBCASE("two repliers saw different ports: endpoint-dependent") {
        nat.on_observed(ep(1, 1), base::Endpoint::v4(203, 0, 113, 5, 1111), t0);
        nat.on_observed(ep(2, 1), base::Endpoint::v4(203, 0, 113, 5, 2222), t0);
        CHECK(nat.mapping() == Mapping::dependent);
    }
}

TEST_CASE("nat analysis: the dial-back check") {
    dht::NatAnalysis nat;
    CHECK(nat.check_due(t0));
    nat.on_sent(ep(1, 4000), t0);  // the contact we ask
    nat.check_started(t0);
    CHECK_FALSE(nat.check_due(t0));
    SUBCASE("the ping of a helper we never talked to arrives: open") {
        REQUIRE(nat.on_helpers({ep(2, 4000)}, t0 + 50ms));
        nat.on_query_from(ep(2, 4000), t0 + 80ms);
        CHECK(nat.filtering() == Filtering::open);
        CHECK(nat.reachable());
    }
    SUBCASE("it does not arrive within 3 s: filtered") {
        REQUIRE(nat.on_helpers({ep(2, 4000)}, t0 + 50ms));
        CHECK(nat.tick(t0 + 1s) == t0 + 50ms + 3s);
        nat.tick(t0 + 4s);
        CHECK(nat.filtering() == Filtering::filtered);
        CHECK_FALSE(nat.reachable());
        CHECK_FALSE(nat.check_due(t0 + 5min));
        CHECK(nat.check_due(t0 + 11min));  // checked again every 10 minutes
    }
    SUBCASE("every helper is someone we talked to: inconclusive, retried later with a backoff") {
        nat.on_sent(ep(2, 9), t0);
        CHECK_FALSE(nat.on_helpers({ep(2, 4000)}, t0 + 50ms));  // same address, any port
        CHECK(nat.filtering() == Filtering::unknown);
        CHECK_FALSE(nat.check_due(t0 + 4s));
        CHECK(nat.check_due(t0 + 6s));
        nat.check_started(t0 + 6s);
        nat.check_failed(t0 + 6s);
        CHECK_FALSE(nat.check_due(t0 + 15s));
        CHECK(nat.check_due(t0 + 17s));  // 10 s the second time
    }
    SUBCASE("we talked to the silent helper meanwhile: its silence proves nothing") {
        REQUIRE(nat.on_helpers({ep(2, 4000)}, t0 + 50ms));
        nat.on_sent(ep(2, 4000), t0 + 1s);
        nat.tick(t0 + 4s);
        CHECK(nat.filtering() == Filtering::unknown);
    }
    SUBCASE("a query from a contact proves nothing; from a stranger, it proves reachability") {
        nat.on_query_from(ep(1, 4000), t0);
        CHECK(nat.filtering() == Filtering::unknown);
        nat.on_query_from(ep(7, 4000), t0);
        CHECK(nat.filtering() == Filtering::open);
    }
}

TEST_CASE("nat analysis: an operator's public address is reachable without checks") {
    dht::NatAnalysis nat;
    auto pub = base::Endpoint::v4(203, 0, 113, 1, 44544);
    nat.set_public(pub);
    CHECK(nat.reachable());
    CHECK(nat.filtering() == Filtering::open);
    CHECK_FALSE(nat.check_due(t0));
    CHECK(nat.public_endpoints() == std::vector<base::Endpoint>{pub});
}

TEST_CASE("nat analysis: a network change forgets what was learnt and checks again at once") {
    dht::NatAnalysis nat;
    base::Endpoint pub = base::Endpoint::v4(203, 0, 113, 5, 44544);
    for (uint8_t i = 1; i <= 3; ++i) nat.on_observed(ep(i, 1), pub, t0);
    REQUIRE(nat.mapping() == Mapping::independent);
    nat.check_started(t0);
    REQUIRE(nat.on_helpers({ep(9, 1)}, t0));
    nat.on_query_from(ep(9, 1), t0 + 1s);  // the helper's ping: reachable
    REQUIRE(nat.reachable());
    CHECK_FALSE(nat.check_due(t0 + 2s));
    nat.reset();
    CHECK(nat.mapping() == Mapping::unknown);
    CHECK(nat.filtering() == Filtering::unknown);
    CHECK_FALSE(nat.reachable());
    CHECK(nat.public_endpoints().empty());
    CHECK(nat.check_due(t0 + 2s));
    // What contacts report from the new network decides alone: a symmetric NAT now.
    nat.on_observed(ep(1, 1), base::Endpoint::v4(203, 0, 113, 61, 1111), t0 + 3s);
    nat.on_observed(ep(2, 1), base::Endpoint::v4(203, 0, 113, 61, 2222), t0 + 3s);
    CHECK(nat.mapping() == Mapping::dependent);
    SUBCASE("an operator's public address survives it") {
        nat.set_public(pub);
        nat.reset();
        CHECK(nat.reachable());
        CHECK(nat.public_endpoints() == std::vector<base::Endpoint>{pub});
    }
}

// A busy public node sends to more hosts within `contact_memory` than it keeps. Each sweep over
// the memory must make room for many sends: one that freed nothing ran again on every datagram
// (a pass over 8,192 entries per send, which made large churn simulations slow down faster than
// they grew).
TEST_CASE("nat analysis: the memory of contacted hosts stays bounded when everyone is recent") {
    dht::NatConfig cfg;
    cfg.max_contacted = 100;
    dht::NatAnalysis nat{cfg};
    auto host = [](int k) { return base::Endpoint::v4(10, 1, static_cast<uint8_t>(k / 250), static_cast<uint8_t>(k % 250 + 1), 9); };
    size_t most = 0, sweeps = 0, before = 0;
    for (int k = 0; k < 1000; ++k) {
        nat.on_sent(host(k), t0 + std::chrono::milliseconds(k / 3));  // several sends per instant
        most = std::max(most, nat.remembered());
        sweeps += nat.remembered() < before;
        before = nat.remembered();
    }
    CHECK(most <= 101);
    CHECK(sweeps <= 1000 / 40);  // each sweep frees room for at least 40 sends
    auto now = t0 + 1s;
    CHECK(nat.contacted(host(999), now));  // the newest are kept
    CHECK(!nat.contacted(host(0), now));   // the oldest went early
}
