// Relays in the DHT under virtual time (PROTOCOL.md §17): clients behind symmetric NATs reserve
// the public nodes that keep their presence; a lookup names those relays; a circuit between two
// clients forwards datagrams both ways, only from the endpoints the ids were given to, and only
// to a client that reserved the relay. A failing run prints SIM_SEED=N.
#include <doctest/doctest.h>

#include <cstdlib>

#include "nat_world.hpp"

using namespace std::chrono_literals;
using natsim::config;
using natsim::found_network;
using natsim::seed;
using sim::NatKind;

namespace {

size_t index_of(sim::World& w, const dht::NodeId& id) {
    for (size_t i = 0; i < w.size(); ++i)
        if (w.node(i).id() == id) return i;
    return SIZE_MAX;
}

struct Got {
    size_t node;
    base::Endpoint from;
    std::vector<uint8_t> bytes;
};

}  // namespace

TEST_CASE("relay sim: two symmetric-NAT clients talk through a relay they found by a lookup") {
    INFO("SIM_SEED=" << seed());
    sim::World w{config()};
    found_network(w, 5);
    size_t a = w.spawn(1, w.add_nat(NatKind::symmetric));
    size_t b = w.spawn(1, w.add_nat(NatKind::symmetric));
    size_t c = w.spawn(1, w.add_nat(NatKind::symmetric));
    for (size_t n : {a, b, c}) w.schedule_join(n, 1, w.now());
    w.run_for(30s);
    // Every presence holder is a public node: each granted the reservation.
    REQUIRE(w.node(a).presence_holders().size() == 3);
    CHECK(w.node(a).relays().size() == 3);
    CHECK_FALSE(w.node(a).relaying());  // a client relays for nobody

    std::optional<dht::LookupResult> found;
    w.node(b).find_node(w.node(a).id(), [&](const dht::LookupResult& r) { found = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return found.has_value(); }, 10s));
    REQUIRE_FALSE(found->relays.empty());
    dht::NodeInfo via;
    for (auto& r : found->rendezvous)
        if (r.id == found->relays.front()) via = r;
    size_t relay = index_of(w, via.id);
    REQUIRE(relay < 5);

    std::optional<std::pair<dht::NodeId, uint64_t>> accepted;
    w.node(a).set_relay_handler([&](const dht::NodeId& from, const dht::NodeInfo& r, uint64_t circuit, base::TimePoint) {
        CHECK(r.id == via.id);
        accepted.emplace(from, circuit);
        return true;
    });
    std::optional<dht::RelayOpenResult> opened;
    w.node(b).relay_open(via, w.node(a).id(), [&](const dht::RelayOpenResult& r) { opened = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return opened.has_value(); }, 10s));
    REQUIRE(opened->ok);
    REQUIRE(accepted);
    CHECK(accepted->first == w.node(b).id());
    CHECK(accepted->second != opened->circuit);

    std::vector<Got> got;
    w.on_other = [&](size_t n, const base::Endpoint& from, std::span<const uint8_t> d) {
        if (n != a && n != b && n != c) return false;
        got.push_back({n, from, {d.begin(), d.end()}});
        return true;
    };
    std::vector<uint8_t> hello(300, 4), reply(40, 4);
    hello[0] = reply[0] = 1;
    reply[1] = 9;
    w.send_raw(b, via.endpoint, dht::relay_frame(dht::RelayKind::data, opened->circuit, hello));
    w.run_for(1s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].node == a);
    CHECK(got[0].from == via.endpoint);
    auto f = dht::parse_relay_frame(got[0].bytes);
    REQUIRE(f);
    CHECK(f->circuit == accepted->second);
    CHECK(std::vector<uint8_t>(f->payload.begin(), f->payload.end()) == hello);
    CHECK(got[0].bytes.size() == hello.size() + dht::kRelayHeader);  // no bigger than what went in

    w.send_raw(a, via.endpoint, dht::relay_frame(dht::RelayKind::data, accepted->second, reply));
    w.run_for(1s);
    REQUIRE(got.size() == 2);
    CHECK(got[1].node == b);
    f = dht::parse_relay_frame(got[1].bytes);
    REQUIRE(f);
    CHECK(f->circuit == opened->circuit);
    CHECK(std::vector<uint8_t>(f->payload.begin(), f->payload.end()) == reply);

    // b's id, used by another client, reaches no one: the relay forwards only from where it
    // gave the id.
    w.send_raw(c, via.endpoint, dht::relay_frame(dht::RelayKind::data, opened->circuit, hello));
    w.run_for(1s);
    CHECK(got.size() == 2);
    CHECK(w.node(relay).relay().stats().dropped_spoofed == 1);
    CHECK(w.node(relay).relay().stats().forwarded == 2);

    // b closes: a is told, the ids are gone.
    std::vector<uint8_t> why{'b', 'y', 'e'};
    w.send_raw(b, via.endpoint, dht::relay_frame(dht::RelayKind::close, opened->circuit, why));
    w.run_for(1s);
    REQUIRE(got.size() == 3);
    CHECK(got[2].node == a);
    CHECK(w.node(relay).relay().size() == 0);
}

TEST_CASE("relay sim: nobody is reached through a relay without asking for it") {
    INFO("SIM_SEED=" << seed());
    sim::World w{config()};
    found_network(w, 5);
    size_t a = w.spawn(1, w.add_nat(NatKind::symmetric));
    size_t b = w.spawn(1, w.add_nat(NatKind::port_restricted));
    for (size_t n : {a, b}) w.schedule_join(n, 1, w.now());
    w.run_for(30s);
    REQUIRE(w.node(a).relays().size() == 3);
    dht::NodeInfo via = w.node(a).relays().front();
    auto ask = [&](const dht::NodeInfo& r, const dht::NodeId& target) {
        std::optional<dht::RelayOpenResult> res;
        w.node(b).relay_open(r, target, [&](const dht::RelayOpenResult& x) { res = x; }, w.now());
        w.poke(b);
        REQUIRE(w.run_until([&] { return res.has_value(); }, 10s));
        return *res;
    };
    SUBCASE("a node that reserved nothing there: 209") {
        auto r = ask(via, dht::NodeId::hash_of("nobody"));
        CHECK_FALSE(r.ok);
        CHECK(r.error_code == dht::kErrNotHere);
    }
    SUBCASE("a public node that does not relay: 213") {
        dht::Config no_relay = config().dht;
        no_relay.relay = false;
        size_t r = w.spawn(1, std::nullopt, no_relay);
        w.schedule_join(r, 1, w.now());
        w.run_for(30s);
        auto res = ask({w.node(r).id(), w.endpoint(r)}, w.node(a).id());
        CHECK_FALSE(res.ok);
        CHECK(res.error_code == dht::kErrNoRelay);
        CHECK(w.node(r).relay().size() == 0);
    }
    SUBCASE("the target refuses: 211, and the relay keeps nothing") {
        w.node(a).set_relay_handler([](const dht::NodeId&, const dht::NodeInfo&, uint64_t, base::TimePoint) { return false; });
        auto r = ask(via, w.node(a).id());
        CHECK_FALSE(r.ok);
        CHECK(r.error_code == dht::kErrRefused);
        CHECK(w.node(index_of(w, via.id)).relay().size() == 0);
    }
}

// The NAT lab once lost a relayed session this way: the client's closest nodes changed, it stopped
// announcing to the relay that carried its circuit, and 60 s later the relay's copy of the
// reservation expired and it closed the circuit under a live session.
TEST_CASE("relay sim: a relay that carries a circuit keeps the reservation after it stops being a closest node") {
    INFO("SIM_SEED=" << seed());
    sim::World w{config()};
    found_network(w, 5);
    size_t a = w.spawn(1, w.add_nat(NatKind::symmetric));
    size_t b = w.spawn(1, w.add_nat(NatKind::symmetric));
    for (size_t n : {a, b}) w.schedule_join(n, 1, w.now());
    w.run_for(30s);
    REQUIRE(w.node(a).relays().size() == 3);
    dht::NodeInfo via = w.node(a).relays().front();
    size_t relay = index_of(w, via.id);
    w.node(a).set_relay_handler([](const dht::NodeId&, const dht::NodeInfo&, uint64_t, base::TimePoint) { return true; });
    std::optional<dht::RelayOpenResult> opened;
    w.node(b).relay_open(via, w.node(a).id(), [&](const dht::RelayOpenResult& r) { opened = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return opened.has_value(); }, 10s));
    REQUIRE(opened->ok);

    // a's session layer reports every datagram of the circuit, as cli::SessionHost does.
    size_t data = 0, closes = 0;
    w.on_other = [&](size_t n, const base::Endpoint& from, std::span<const uint8_t> d) {
        if (n != a && n != b) return false;
        auto f = dht::parse_relay_frame(d);
        if (!f) return false;
        if (f->kind == dht::RelayKind::close) {
            ++closes;
        } else if (n == a) {
            ++data;
            w.node(a).relay_used({via.id, from}, w.now());
        }
        return true;
    };
    std::vector<uint8_t> ping(60, 4);
    ping[0] = 1;
    // New public nodes join until the relay is no longer among a's closest nodes. How many that
    // takes depends on how near the relay's ID falls to a's (seed 42 needed more than 100).
    auto closest = [&] {
        auto c = w.node(a).table().closest(w.node(a).id(), 3);
        return std::any_of(c.begin(), c.end(), [&](auto& n) { return n.id == via.id; });
    };
    for (int round = 0; round < 60 && closest(); ++round) {
        size_t first = w.spawn(5);
        for (size_t i = first; i < first + 5; ++i) {
            w.node(i).set_public_address(w.endpoint(i));
            w.schedule_join(i, 0, w.now());
        }
        w.run_for(5s);
        w.node(a).find_node(w.node(a).id(), [](const dht::LookupResult&) {}, w.now());  // (a refresh)
        w.poke(a);
        w.send_raw(b, via.endpoint, dht::relay_frame(dht::RelayKind::data, opened->circuit, ping));
        w.run_for(5s);
    }
    REQUIRE_FALSE(closest());
    // The session goes on for 5 minutes, a datagram every 10 s: the circuit stays up.
    size_t before = data;
    for (int i = 0; i < 30; ++i) {
        w.send_raw(b, via.endpoint, dht::relay_frame(dht::RelayKind::data, opened->circuit, ping));
        w.run_for(10s);
    }
    CHECK(closes == 0);
    CHECK(data == before + 30);
    CHECK(w.node(relay).relay().size() > 0);
    // Once the circuit falls silent, a lets the reservation go: the relay ends it.
    w.run_for(4min);
    CHECK(closes >= 1);
    CHECK(w.node(relay).relay().size() == 0);
}
