// The DHT's NAT traversal under virtual time (PROTOCOL.md §16): public nodes and nodes behind each
// kind of simulated NAT (tests/support/sim_nat.hpp) join one network. Each learns what its NAT
// does; the ones others cannot reach stay out of routing tables; a lookup of a client ends at the
// nodes that keep its presence, which forward a connect to it over the mapping its keepalives
// hold open. A failing run prints SIM_SEED=N.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>

#include "nat_world.hpp"

using namespace std::chrono_literals;
using sim::NatKind;

using natsim::config;
using natsim::found_network;
using natsim::seed;

TEST_CASE("nat sim: each NAT kind is recognised, never wrongly; clients stay out of routing tables") {
    INFO("SIM_SEED=" << seed());
    sim::WorldConfig wc = config();
    if (std::getenv("SIM_LOG")) wc.log_level = base::Level::debug;
    sim::World w{wc};
    const size_t n_servers = 6, per_kind = 3;
    found_network(w, n_servers);
    std::vector<std::pair<std::string, size_t>> nodes;
    for (NatKind k : {NatKind::full_cone, NatKind::restricted, NatKind::port_restricted, NatKind::symmetric,
                      NatKind::firewall})
        for (size_t n = 0; n < per_kind; ++n) nodes.emplace_back(sim::nat_kind_name(k), w.spawn(1, w.add_nat(k)));
    for (size_t n = 0; n < per_kind; ++n) nodes.emplace_back("public", w.spawn(1));
    size_t t = 0;
    for (auto& [name, i] : nodes) {
        w.schedule_join(i, t % n_servers, w.now() + std::chrono::milliseconds(50 * t));
        ++t;
    }
    w.run_for(10min);

    struct Want {
        dht::Mapping mapping;
        dht::Filtering filtering;
    };
    std::map<std::string, Want> want = {
        {"full-cone", {dht::Mapping::independent, dht::Filtering::open}},
        {"restricted", {dht::Mapping::independent, dht::Filtering::filtered}},
        {"port-restricted", {dht::Mapping::independent, dht::Filtering::filtered}},
        {"symmetric", {dht::Mapping::dependent, dht::Filtering::filtered}},
        {"firewall", {dht::Mapping::none, dht::Filtering::filtered}},
        {"public", {dht::Mapping::none, dht::Filtering::open}},
    };
    std::map<std::string, size_t> conclusive;
    for (auto& [name, i] : nodes) {
        INFO(name << " node " << i);
        if (std::getenv("SIM_LOG") && w.node(i).nat().filtering() == dht::Filtering::unknown) MESSAGE(w.log_of(i));
        const auto& nat = w.node(i).nat();
        CHECK(nat.mapping() == want[name].mapping);
        // A check that only ever found helpers this node had talked to stays "unknown" (and the
        // node a client): safe. A wrong verdict is not.
        if (nat.filtering() != dht::Filtering::unknown) {
            CHECK(nat.filtering() == want[name].filtering);
            ++conclusive[name];
        }
        bool open = nat.filtering() == dht::Filtering::open;
        CHECK(w.node(i).serving() == open);
        // In someone's table exactly when it serves; a client in nobody's.
        size_t holders = 0;
        for (size_t j = 0; j < w.size(); ++j)
            if (j != i && w.node(j).table().find(w.node(i).id())) ++holders;
        if (open)
            CHECK(holders > 0);
        else
            CHECK(holders == 0);
        CHECK(w.node(i).join_state() == dht::Node::JoinState::connected);
    }
    for (auto& [name, wnt] : want) {
        INFO(name);
        CHECK(conclusive[name] >= 2);  // of 3
    }
    // The founders of the network see "connected", not "alone", once others joined.
    CHECK(w.node(0).join_state() == dht::Node::JoinState::connected);
}

TEST_CASE("nat sim: a lookup of a client ends at its presence holders, which forward a connect both ways") {
    INFO("SIM_SEED=" << seed());
    sim::World w{config()};
    found_network(w, 5);
    size_t a = w.spawn(1, w.add_nat(NatKind::port_restricted));
    size_t b = w.spawn(1, w.add_nat(NatKind::symmetric));
    w.schedule_join(a, 1, w.now());
    w.schedule_join(b, 2, w.now());
    w.run_for(30s);
    REQUIRE(w.node(a).announcing());
    CHECK(w.node(a).presence_holders().size() == 3);

    std::optional<dht::LookupResult> found;
    w.node(b).find_node(w.node(a).id(), [&](const dht::LookupResult& r) { found = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return found.has_value(); }, 10s));
    CHECK_FALSE(found->found);  // a client never answers a lookup itself
    REQUIRE_FALSE(found->rendezvous.empty());
    REQUIRE(found->here);
    CHECK(found->here->addr[0] == 198);  // a's NAT's public address

    std::optional<std::tuple<dht::NodeId, base::Endpoint, std::string>> offered;
    w.node(a).set_offer_handler([&](const dht::NodeId& from, const base::Endpoint& seen, const std::string& offer,
                                    base::TimePoint) -> std::optional<std::string> {
        offered.emplace(from, seen, offer);
        return std::string("0a0b");
    });
    std::optional<dht::RendezvousResult> res;
    w.node(b).rendezvous(found->rendezvous.front(), w.node(a).id(), "c0ffee",
                         [&](const dht::RendezvousResult& r) { res = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return res.has_value(); }, 10s));
    REQUIRE(res->ok);
    CHECK(res->answer == "0a0b");
    REQUIRE(res->peer_seen);
    CHECK(*res->peer_seen == *found->here);
    REQUIRE(offered);
    CHECK(std::get<0>(*offered) == w.node(b).id());
    CHECK(std::get<1>(*offered).addr[0] == 198);  // b's public (NAT) address, as the rendezvous saw it
    CHECK(std::get<2>(*offered) == "c0ffee");

    // A node that keeps no presence for the target says so (209); one refused offer is 211.
    std::optional<dht::RendezvousResult> none;
    w.node(b).rendezvous({w.node(0).id(), w.endpoint(0)}, dht::NodeId::hash_of("nobody"), "00",
                         [&](const dht::RendezvousResult& r) { none = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return none.has_value(); }, 10s));
    CHECK_FALSE(none->ok);
    bool holder0 = false;
    for (auto& n : found->rendezvous) holder0 |= n.id == w.node(0).id();
    if (!holder0) CHECK(none->error_code == dht::kErrNotHere);
    w.node(a).set_offer_handler([](const dht::NodeId&, const base::Endpoint&, const std::string&,
                                   base::TimePoint) { return std::optional<std::string>{}; });
    std::optional<dht::RendezvousResult> refused;
    w.node(b).rendezvous(found->rendezvous.front(), w.node(a).id(), "c0ffee",
                         [&](const dht::RendezvousResult& r) { refused = r; }, w.now());
    w.poke(b);
    REQUIRE(w.run_until([&] { return refused.has_value(); }, 10s));
    CHECK(refused->error_code == dht::kErrRefused);
}

TEST_CASE("nat sim: keepalives hold a 30 s mapping open for hours; without them the rendezvous breaks") {
    INFO("SIM_SEED=" << seed());
    for (bool keepalive : {true, false}) {
        CAPTURE(keepalive);
        sim::WorldConfig wc = config();
        wc.dht.keepalive = keepalive ? 20s : 10min;  // the control: far past the mapping's life
        sim::World w{wc};
        found_network(w, 4);
        size_t a = w.spawn(1, w.add_nat(NatKind::port_restricted, 30s));  // Linux: 30 s before a reply, …
        w.schedule_join(a, 1, w.now());
        w.run_for(20s);
        w.node(a).set_offer_handler([](const dht::NodeId&, const base::Endpoint&, const std::string&,
                                       base::TimePoint) { return std::optional<std::string>{"aa"}; });
        w.run_for(2h + 3min);  // (off the control's 10-minute announce cycle)
        // Ask each holder in turn, as a connector would. (A copy: the node re-announces meanwhile.)
        size_t answered = 0;
        auto holders = w.node(a).presence_holders();
        REQUIRE(holders.size() == 3);
        for (auto& via : holders) {
            std::optional<dht::RendezvousResult> res;
            w.node(3).rendezvous(via, w.node(a).id(), "bb", [&](const dht::RendezvousResult& r) { res = r; }, w.now());
            w.poke(3);
            REQUIRE(w.run_until([&] { return res.has_value(); }, 10s));
            answered += res->ok;
        }
        if (keepalive)
            CHECK(answered == holders.size());
        else
            CHECK(answered == 0);
    }
}

TEST_CASE("nat sim: rendezvous requests beyond the rate limit are refused with 212") {
    INFO("SIM_SEED=" << seed());
    sim::World w{config()};
    found_network(w, 4);
    size_t a = w.spawn(1, w.add_nat(NatKind::full_cone));
    w.schedule_join(a, 1, w.now());
    w.run_for(20s);
    w.node(a).set_offer_handler([](const dht::NodeId&, const base::Endpoint&, const std::string&,
                                   base::TimePoint) { return std::optional<std::string>{"aa"}; });
    REQUIRE_FALSE(w.node(a).presence_holders().empty());
    auto via = w.node(a).presence_holders().front();
    size_t asker = via.id == w.node(3).id() ? 2 : 3;
    std::map<int, int> outcomes;  // 0 = ok
    for (int i = 0; i < 60; ++i)
        w.node(asker).rendezvous(via, w.node(a).id(), "bb", [&](const dht::RendezvousResult& r) {
            ++outcomes[r.ok ? 0 : r.error_code];
        }, w.now());
    w.poke(asker);
    w.run_for(10s);
    CHECK(outcomes[0] >= 20);                     // the burst
    CHECK(outcomes[0] <= 25);
    CHECK(outcomes[dht::kErrBusy] >= 35);
    CHECK(outcomes[0] + outcomes[dht::kErrBusy] == 60);
}
