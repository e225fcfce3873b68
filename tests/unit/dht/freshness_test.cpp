// Query freshness and replay memory (PROTOCOL.md §2): a query's txid carries its sender's clock;
// a node takes it only within 3 minutes of its own, and remembers it until it would be stale
// anyway, so no count of other queries can push a recording out of the replay memory.
#include <doctest/doctest.h>

#include <fstream>

#include "dht/node.hpp"
#include "fake_transport.hpp"
#include "vectors.hpp"

using namespace std::chrono_literals;

namespace {

// 2026-12-01 00:00:00 UTC, when the golden queries were "sent" (tests/support/vectors.cpp).
constexpr int64_t kGoldenTime = 0x6b0e0e00;

struct Fixture {
    crypto::Identity bob = vectors::bob(), alice = vectors::alice(), carol = crypto::Identity::generate();
    dht::Config cfg;
    dht::CryptoAuthenticator auth_bob{bob, 16}, auth_alice{alice, 16}, auth_carol{carol, 16};
    dht::NodeId id_bob{bob.public_key};
    testing::FakeTransport net;
    dht::Decoder dec;
    base::SeededRng rng{9};
    base::CaptureLogger log{base::Level::debug};
    base::TimePoint now = base::TimePoint{} + 100s;
    std::unique_ptr<dht::Node> node;
    base::Endpoint alice_ep = base::Endpoint::v4(127, 0, 0, 2, 4000);
    uint32_t counter = 1;

    // A node whose wall clock reads `wall` (Unix seconds) at `now`.
    explicit Fixture(int64_t wall, size_t replay_capacity = size_t{1} << 18) {
        cfg.replay_capacity = replay_capacity;
        node = std::make_unique<dht::Node>(cfg, auth_bob, net, dec, rng, log, now);
        node->set_wall_offset(std::chrono::seconds(wall) - now.time_since_epoch());
    }
    // A ping from `as`, sent at Unix time `sent`.
    std::string ping(dht::CryptoAuthenticator& as, int64_t sent) {
        dht::Message q;
        q.method = dht::Method::ping;
        q.txid = (static_cast<uint64_t>(static_cast<uint32_t>(sent)) << 32) | counter++;
        q.sender = as.self();
        return dht::encode(q, as, &id_bob);
    }
    // Delivers `dg` from `from`; true if the node answered it.
    bool answered(const std::string& dg, base::Endpoint from) {
        size_t before = net.sent.size();
        node->on_datagram(from, testing::bytes(dg), now);
        node->tick(now);
        return net.sent.size() > before;
    }
    uint64_t dropped(dht::DropReason r) const { return node->stats().dropped[static_cast<size_t>(r)]; }
};

std::string read_vector(const std::string& name) {
    std::ifstream f(std::string(KC_VECTORS_DIR) + "/dht/" + name + ".json", std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "missing golden file " << name);
    return {std::istreambuf_iterator<char>(f), {}};
}

}  // namespace

TEST_CASE("freshness: the golden ping is refused as stale, except by a node whose clock says it was just sent") {
    std::string golden = read_vector("ping_query");
    SUBCASE("a node today (two days later)") {
        Fixture f{kGoldenTime + 2 * 86400};
        CHECK_FALSE(f.answered(golden, f.alice_ep));
        CHECK(f.dropped(dht::DropReason::stale) == 1);
    }
    SUBCASE("a node a minute after it was made: it answers, once") {
        Fixture f{kGoldenTime + 60};
        CHECK(f.answered(golden, f.alice_ep));
        CHECK_FALSE(f.answered(golden, base::Endpoint::v4(127, 0, 0, 9, 9)));
        CHECK(f.dropped(dht::DropReason::replayed) == 1);
    }
    SUBCASE("any node but bob, even at that minute: the MAC names its recipient") {
        crypto::Identity carol = crypto::Identity::generate();
        dht::CryptoAuthenticator auth_carol{carol, 4};
        testing::FakeTransport net;
        dht::Decoder dec;
        base::SeededRng rng{3};
        base::CaptureLogger log{base::Level::debug};
        base::TimePoint now = base::TimePoint{} + 100s;
        dht::Config cfg;  // (a Node keeps a reference to its Config)
        dht::Node node{cfg, auth_carol, net, dec, rng, log, now};
        node.set_wall_offset(std::chrono::seconds(kGoldenTime + 60) - now.time_since_epoch());
        node.on_datagram(base::Endpoint::v4(127, 0, 0, 2, 4000), testing::bytes(golden), now);
        node.tick(now);
        CHECK(net.sent.empty());
        CHECK(node.stats().dropped[static_cast<size_t>(dht::DropReason::bad_auth)] == 1);
    }
}

// The golden hello (a ping without an authenticator, PROTOCOL.md §2) is answered by any node at
// any time; that is harmless, because the answer is a pong MAC'd for alice, and nothing changes.
TEST_CASE("freshness: a hello is answered at any time, and takes no room in the replay memory") {
    std::string golden = read_vector("hello");
    Fixture f{kGoldenTime + 2 * 86400, 4};
    for (int i = 0; i < 10; ++i) CHECK(f.answered(golden, f.alice_ep));
    CHECK(f.node->stats().hellos == 10);
    CHECK(f.dropped(dht::DropReason::stale) == 0);
    CHECK(f.dropped(dht::DropReason::replayed) == 0);
    // The replay memory (4 here) is still free for real queries.
    const int64_t t = kGoldenTime + 2 * 86400;
    for (int i = 0; i < 4; ++i) CHECK(f.answered(f.ping(f.auth_alice, t), f.alice_ep));
    CHECK_FALSE(f.answered(f.ping(f.auth_alice, t), f.alice_ep));
    CHECK(f.dropped(dht::DropReason::replay_full) == 1);
}

TEST_CASE("freshness: a query is taken within 3 minutes of the node's clock, either way") {
    const int64_t t = 1796300000;
    Fixture f{t};
    CHECK(f.answered(f.ping(f.auth_alice, t - 179), f.alice_ep));
    CHECK(f.answered(f.ping(f.auth_alice, t + 179), f.alice_ep));
    CHECK_FALSE(f.answered(f.ping(f.auth_alice, t - 182), f.alice_ep));
    CHECK_FALSE(f.answered(f.ping(f.auth_alice, t + 182), f.alice_ep));
    CHECK(f.dropped(dht::DropReason::stale) == 2);
}

TEST_CASE("freshness: a recording replayed after 1,100 other queries is still refused (the memory is sized by time)") {
    const int64_t t = 1796300000;
    Fixture f{t};
    std::string recorded = f.ping(f.auth_alice, t);
    CHECK(f.answered(recorded, f.alice_ep));
    // The old memory kept 1,024 queries: this many others pushed the recording out of it.
    for (int i = 0; i < 1100; ++i) {
        f.now += 100ms;
        REQUIRE(f.answered(f.ping(f.auth_carol, t + i / 10), base::Endpoint::v4(127, 0, 0, 3, 5000)));
    }
    auto attacker = base::Endpoint::v4(127, 0, 0, 66, 6666);
    CHECK_FALSE(f.answered(recorded, attacker));
    CHECK(f.dropped(dht::DropReason::replayed) == 1);
    // Once the window has passed it is refused as stale, and the memory has let it go.
    f.now += 200s;
    CHECK_FALSE(f.answered(recorded, attacker));
    CHECK(f.dropped(dht::DropReason::stale) == 1);
}

TEST_CASE("freshness: a full replay memory refuses new queries instead of forgetting old ones, and frees up with time") {
    const int64_t t = 1796300000;
    Fixture f{t, 4};
    std::vector<std::string> sent;
    for (int i = 0; i < 4; ++i) {
        sent.push_back(f.ping(f.auth_alice, t));
        CHECK(f.answered(sent.back(), f.alice_ep));
    }
    CHECK_FALSE(f.answered(f.ping(f.auth_alice, t), f.alice_ep));
    CHECK(f.dropped(dht::DropReason::replay_full) == 1);
    for (auto& dg : sent) CHECK_FALSE(f.answered(dg, f.alice_ep));  // still remembered
    CHECK(f.dropped(dht::DropReason::replayed) == 4);
    // 3 minutes and a second later the four are stale, and forgotten: a new query gets in.
    f.now += 182s;
    CHECK(f.answered(f.ping(f.auth_alice, t + 182), f.alice_ep));
}
