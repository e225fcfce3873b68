// LAN discovery, sans-I/O (PROTOCOL.md §18): what an announce says, what is refused and counted,
// when a node announces, and what the DHT node does with a node heard on the local link.
#include <doctest/doctest.h>

#include "base/logger.hpp"
#include "dht/lan_discovery.hpp"
#include "dht/node.hpp"
#include "fake_transport.hpp"
#include "vectors.hpp"

using namespace std::chrono_literals;

namespace {
std::span<const uint8_t> bytes_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
const base::TimePoint t0 = base::TimePoint{} + 1000s;
}  // namespace

TEST_CASE("lan discovery: an announce names the node and its DHT port, at the sender's address") {
    dht::NodeId a{vectors::alice().public_key}, b{vectors::bob().public_key};
    dht::LanDiscovery da{a, 44544, {}, t0}, db{b, 5000, {}, t0};
    CHECK(da.announce().size() < 160);
    auto got = db.on_datagram(base::Endpoint::v4(10, 0, 0, 7, 44545), bytes_of(da.announce()), t0);
    REQUIRE(got);
    CHECK(got->id == a);
    CHECK(got->endpoint == base::Endpoint::v4(10, 0, 0, 7, 44544));
    SUBCASE("our own announce, looped back, is ignored") {
        CHECK_FALSE(da.on_datagram(base::Endpoint::v4(10, 0, 0, 7, 44545), bytes_of(da.announce()), t0));
        CHECK(da.stats().own == 1);
    }
    SUBCASE("the same node again is news only after `remember`") {
        CHECK_FALSE(db.on_datagram(base::Endpoint::v4(10, 0, 0, 7, 44545), bytes_of(da.announce()), t0 + 30s));
        CHECK(db.on_datagram(base::Endpoint::v4(10, 0, 0, 7, 44545), bytes_of(da.announce()), t0 + 30s + 2min));
        CHECK(db.stats().found == 2);
    }
}

TEST_CASE("lan discovery: hostile or broken announces are dropped and counted") {
    dht::LanDiscovery d{dht::NodeId{vectors::bob().public_key}, 44544, {}, t0};
    std::string id(64, 'a');
    const std::vector<std::string> bad = {
        "",
        "not json",
        "{}",
        "[1,2]",
        R"({"kc":"dht","v":4,"id":")" + id + R"(","port":1})",
        R"({"kc":"lan","v":4,"id":"abc","port":1})",
        R"({"kc":"lan","v":4,"id":")" + id + R"(","port":0})",
        R"({"kc":"lan","v":4,"id":")" + id + R"(","port":70000})",
        R"({"kc":"lan","v":0,"id":")" + id + R"(","port":1})",
        R"({"kc":"lan","v":4,"id":")" + id + R"(","port":"44544"})",
        R"({"kc":"lan","v":4,"id":")" + id + R"(","port":1,"pad":")" + std::string(300, 'x') + "\"}",
    };
    for (auto& b : bad) CHECK_FALSE(d.on_datagram(base::Endpoint::v4(10, 0, 0, 9, 44545), bytes_of(b), t0));
    CHECK(d.stats().malformed == bad.size());
    CHECK(d.stats().found == 0);
    // IPv6 senders are not expected on an IPv4 group.
    auto v6 = *base::Endpoint::parse("[fe80::1]:44545");
    CHECK_FALSE(d.on_datagram(v6, bytes_of(R"({"kc":"lan","v":4,"id":")" + id + R"(","port":1})"), t0));
    CHECK(d.stats().malformed == bad.size() + 1);
}

TEST_CASE("lan discovery: announces at start, every interval, and soon after hearing someone new") {
    dht::LanConfig cfg;
    dht::LanDiscovery d{dht::NodeId{vectors::bob().public_key}, 44544, cfg, t0};
    CHECK(d.due(t0));
    d.sent(t0);
    CHECK_FALSE(d.due(t0 + 29s));
    CHECK(d.next() == t0 + cfg.interval);
    // A newcomer 200 ms later: we answer with an announce, but not sooner than min_gap after the last.
    dht::LanDiscovery other{dht::NodeId{vectors::alice().public_key}, 1, cfg, t0};
    REQUIRE(d.on_datagram(base::Endpoint::v4(10, 0, 0, 2, 44545), bytes_of(other.announce()), t0 + 200ms));
    CHECK(d.next() == t0 + cfg.min_gap);
    // Many newcomers at once (or forged IDs): still at most one announce per min_gap. (Who was
    // heard is kept for at most max_remembered nodes; that bound is not observable from here.)
    d.sent(t0 + 1s);
    for (int i = 0; i < 1000; ++i) {
        std::string id = dht::NodeId::hash_of("n" + std::to_string(i)).hex();
        auto a = R"({"kc":"lan","v":4,"id":")" + id + R"(","port":44544})";
        d.on_datagram(base::Endpoint::v4(10, 0, 3, static_cast<uint8_t>(i), 44545), bytes_of(a), t0 + 1100ms);
    }
    CHECK(d.next() >= t0 + 2s);
    CHECK(d.stats().found == 1001);
}

TEST_CASE("lan discovery: a node heard on the local link bootstraps a node that has no other") {
    auto bob = vectors::bob(), alice = vectors::alice();
    dht::Config cfg;
    dht::CryptoAuthenticator auth_bob{bob, 16}, auth_alice{alice, 16};
    testing::FakeTransport net;
    dht::Decoder dec;
    base::SeededRng rng{5};
    base::CaptureLogger log{base::Level::debug};
    dht::Node node{cfg, auth_bob, net, dec, rng, log, t0};
    node.join(t0);
    CHECK(node.join_state() == dht::Node::JoinState::alone);
    dht::NodeInfo lan{dht::NodeId{alice.public_key}, base::Endpoint::v4(10, 0, 0, 2, 44544)};
    node.lan_peer(lan, t0);
    node.tick(t0);
    CHECK(node.join_state() == dht::Node::JoinState::joining);
    // A find_node for our own ID, to that endpoint, that only the ID it claims can check (MAC'd).
    REQUIRE_FALSE(net.sent.empty());
    CHECK(net.sent.front().to == lan.endpoint);
    dht::Decoder::Failure fail{};
    auto d = dec.decode(testing::bytes(net.sent.front().data), auth_alice, fail);
    REQUIRE(d);
    CHECK(d->msg.method == dht::Method::find_node);
    CHECK(d->msg.target == dht::NodeId{bob.public_key});
    // Ourselves, heard back through the multicast loop: nothing.
    size_t before = net.sent.size();
    node.lan_peer({dht::NodeId{bob.public_key}, base::Endpoint::v4(10, 0, 0, 1, 44544)}, t0);
    CHECK(net.sent.size() == before);
}
