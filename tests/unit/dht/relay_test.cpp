// dht::Relay on its own: circuits opened, confirmed and closed; what it forwards, to whom and how
// much; what it drops (unknown ids, a copied id from another endpoint, over the rate); limits.
#include <doctest/doctest.h>

#include "dht/relay.hpp"

using namespace std::chrono_literals;

namespace {
const base::TimePoint t0 = base::TimePoint{} + 1000h;
dht::NodeId id_of(uint8_t b) {
    dht::NodeId id;
    id.bytes().fill(b);
    return id;
}
const base::Endpoint asker_ep = base::Endpoint::v4(203, 0, 113, 11, 40000);
const base::Endpoint target_ep = base::Endpoint::v4(203, 0, 113, 12, 50000);
std::vector<uint8_t> data(uint64_t circuit, size_t n, uint8_t fill = 4) {
    std::vector<uint8_t> payload(n, fill);
    return dht::relay_frame(dht::RelayKind::data, circuit, payload);
}
}  // namespace

TEST_CASE("relay frames: built and parsed; nonsense refused") {
    std::vector<uint8_t> p{1, 2, 3};
    auto f = dht::relay_frame(dht::RelayKind::data, 0x0102030405060708ULL, p);
    CHECK(f.size() == dht::kRelayHeader + 3);
    auto parsed = dht::parse_relay_frame(f);
    REQUIRE(parsed);
    CHECK(parsed->circuit == 0x0102030405060708ULL);
    CHECK(parsed->kind == dht::RelayKind::data);
    CHECK(std::vector<uint8_t>(parsed->payload.begin(), parsed->payload.end()) == p);
    CHECK_FALSE(dht::parse_relay_frame(std::span{f}.first(9)));                   // short
    CHECK_FALSE(dht::parse_relay_frame(dht::relay_frame(dht::RelayKind::data, 7, {})));  // empty data
    f[1] = 9;
    CHECK_FALSE(dht::parse_relay_frame(f));  // unknown kind
}

TEST_CASE("relay: a circuit forwards both ways, byte for byte, only once confirmed") {
    base::SeededRng rng(1);
    dht::Relay relay({}, rng);
    auto o = relay.open(id_of(1), asker_ep, id_of(2), target_ep, t0);
    REQUIRE(o);
    CHECK(o->asker_circuit != o->target_circuit);
    // Before the target accepted, nothing passes: a circuit nobody agreed to carries nothing.
    CHECK(relay.on_datagram(asker_ep, data(o->asker_circuit, 100), t0).empty());
    relay.confirm(o->target_circuit, t0);
    auto out = relay.on_datagram(asker_ep, data(o->asker_circuit, 100), t0 + 1ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == target_ep);
    CHECK(out[0].bytes == data(o->target_circuit, 100));  // same size: no amplification
    out = relay.on_datagram(target_ep, data(o->target_circuit, 50, 7), t0 + 2ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == asker_ep);
    CHECK(out[0].bytes == data(o->asker_circuit, 50, 7));
    CHECK(relay.stats().forwarded == 2);
    CHECK(relay.stats().forwarded_bytes == 150);

    SUBCASE("an id used from another endpoint is dropped (it cannot aim the relay at anyone)") {
        auto elsewhere = base::Endpoint::v4(198, 51, 100, 1, 40000);
        CHECK(relay.on_datagram(elsewhere, data(o->asker_circuit, 100), t0).empty());
        CHECK(relay.on_datagram(asker_ep, data(o->target_circuit, 100), t0).empty());  // the other end's id
        CHECK(relay.stats().dropped_spoofed == 2);
    }
    SUBCASE("unknown ids and malformed frames are dropped and counted") {
        CHECK(relay.on_datagram(asker_ep, data(12345, 100), t0).empty());
        std::vector<uint8_t> junk{dht::kRelayType, 1, 2};
        CHECK(relay.on_datagram(asker_ep, junk, t0).empty());
        CHECK(relay.stats().dropped_unknown == 2);  // and the one before the target accepted
        CHECK(relay.stats().dropped_malformed == 1);
    }
    SUBCASE("an end closes: the other end is told, the ids go") {
        std::vector<uint8_t> why{'b', 'y', 'e'};
        out = relay.on_datagram(asker_ep, dht::relay_frame(dht::RelayKind::close, o->asker_circuit, why), t0);
        REQUIRE(out.size() == 1);
        CHECK(out[0].to == target_ep);
        auto f = dht::parse_relay_frame(out[0].bytes);
        REQUIRE(f);
        CHECK(f->kind == dht::RelayKind::close);
        CHECK(f->circuit == o->target_circuit);
        CHECK(relay.size() == 0);
        CHECK(relay.on_datagram(target_ep, data(o->target_circuit, 10), t0).empty());
    }
    SUBCASE("the reservation ends: both ends are told") {
        out = relay.close_node(id_of(2), "the reservation expired");
        CHECK(out.size() == 2);
        CHECK(relay.size() == 0);
    }
}

TEST_CASE("relay: limits") {
    base::SeededRng rng(2);
    dht::RelayLimits limits;
    limits.circuits = 3;
    limits.per_node = 2;
    limits.rate = 10000;
    limits.burst = 3000;
    limits.bytes = 20000;
    limits.lifetime = 60s;
    dht::Relay relay(limits, rng);

    auto o = relay.open(id_of(1), asker_ep, id_of(2), target_ep, t0);
    REQUIRE(o);
    relay.confirm(o->target_circuit, t0);
    SUBCASE("the rate: a burst passes, then only what the rate refills") {
        int passed = 0;
        for (int i = 0; i < 10; ++i) passed += !relay.on_datagram(asker_ep, data(o->asker_circuit, 1000), t0).empty();
        CHECK(passed == 3);
        CHECK(relay.stats().dropped_rate == 7);
        CHECK(relay.on_datagram(asker_ep, data(o->asker_circuit, 1000), t0 + 100ms).size() == 1);  // 1000 B refilled
        CHECK(relay.on_datagram(asker_ep, data(o->asker_circuit, 1000), t0 + 100ms).empty());
    }
    SUBCASE("the byte cap closes the circuit, with the reason, at both ends") {
        base::TimePoint now = t0;
        std::vector<dht::RelayOut> out;
        for (int i = 0; i < 40 && relay.size() > 0; ++i) {
            now += 1s;
            out = relay.on_datagram(asker_ep, data(o->asker_circuit, 1000), now);
        }
        CHECK(relay.size() == 0);
        CHECK(relay.stats().forwarded == 20);  // 20,000 bytes, not one more
        CHECK(relay.stats().closed_bytes == 1);
        REQUIRE(out.size() == 2);
        for (auto& d : out) {
            auto f = dht::parse_relay_frame(d.bytes);
            REQUIRE(f);
            CHECK(f->kind == dht::RelayKind::close);
            CHECK(std::string(f->payload.begin(), f->payload.end()).find("byte cap") != std::string::npos);
        }
    }
    SUBCASE("the lifetime, and a circuit never accepted") {
        auto pending = relay.open(id_of(5), asker_ep, id_of(6), target_ep, t0);
        REQUIRE(pending);
        base::TimePoint next = base::kNever;
        CHECK(relay.tick(t0 + 1s, next).empty());
        CHECK(next == t0 + limits.confirm);
        next = base::kNever;
        CHECK(relay.tick(t0 + 6s, next).empty());  // the unaccepted one goes quietly
        CHECK(relay.size() == 1);
        CHECK(next == t0 + 60s);
        next = base::kNever;
        CHECK(relay.tick(t0 + 60s, next).size() == 2);
        CHECK(relay.size() == 0);
        CHECK(relay.stats().closed_lifetime == 1);
        CHECK(relay.stats().closed_unconfirmed == 1);
    }
}

TEST_CASE("relay: circuits in all, and per node") {
    base::SeededRng rng(3);
    dht::RelayLimits limits;
    limits.circuits = 3;
    limits.per_node = 2;
    dht::Relay relay(limits, rng);
    REQUIRE(relay.open(id_of(1), asker_ep, id_of(2), target_ep, t0));
    REQUIRE(relay.open(id_of(1), asker_ep, id_of(3), target_ep, t0));
    auto third = relay.open(id_of(1), asker_ep, id_of(4), target_ep, t0);
    CHECK_FALSE(third);
    CHECK(third.status().code() == base::Errc::limit);
    REQUIRE(relay.open(id_of(5), asker_ep, id_of(6), target_ep, t0));
    CHECK_FALSE(relay.open(id_of(7), asker_ep, id_of(8), target_ep, t0));  // full
    CHECK(relay.stats().refused == 2);
    CHECK_FALSE(relay.open(id_of(9), asker_ep, id_of(9), target_ep, t0));  // to itself
}

TEST_CASE("relay limits: parsed from the command line") {
    auto l = dht::parse_relay_limits("circuits=5,bytes=1000000,lifetime=60");
    REQUIRE(l);
    CHECK(l->circuits == 5);
    CHECK(l->bytes == 1000000);
    CHECK(l->lifetime == 60s);
    CHECK(l->rate == dht::RelayLimits{}.rate);
    CHECK(dht::parse_relay_limits(dht::to_string(*l))->circuits == 5);
    CHECK_FALSE(dht::parse_relay_limits("circuits"));
    CHECK_FALSE(dht::parse_relay_limits("speed=3"));
    CHECK_FALSE(dht::parse_relay_limits("rate=0"));
    CHECK_FALSE(dht::parse_relay_limits("bytes=12x"));
}
