// Secure sessions over real TCP on 127.0.0.1: session hosts (the table and the connector joined
// to sockets) on one loop. The policy itself (tie-break, timers, backoff) is tested under
// virtual time in tests/unit/session/; these tests prove the adapters on real sockets.
#include <doctest/doctest.h>

#include <functional>
#include <memory>

#include "base/logger.hpp"
#include "cli/session_host.hpp"
#include "crypto/sodium_rng.hpp"
#include "vectors.hpp"

using namespace std::chrono_literals;

namespace {

// Runs the loop until `done` or `limit`, checking every 2 ms; false on timeout.
bool run_until(net::Loop& loop, const std::function<bool()>& done, base::Duration limit) {
    auto deadline = base::steady_now() + limit;
    bool ok = false;
    std::unique_ptr<net::Timer> poll;
    auto t = net::Timer::make(loop, [&] {
        if (done()) {
            ok = true;
            loop.stop();
        } else if (base::steady_now() > deadline) {
            loop.stop();
        } else {
            poll->start(2);
        }
    });
    poll = std::move(*t);
    poll->start(0);
    loop.run();
    return ok;
}

struct Node {
    crypto::Identity id;
    crypto::SessionKeys keys{id};
    crypto::SodiumRng rng;
    base::CaptureLogger log{base::Level::debug};
    std::unique_ptr<cli::SessionHost> mgr;
    std::vector<std::string> got;
    std::vector<std::string> closed;
    Node(net::Loop& loop, net::LoopTurn& turn, crypto::Identity i, cli::SessionHostConfig cfg = {}) : id{std::move(i)} {
        mgr = std::make_unique<cli::SessionHost>(loop, turn, keys, rng, log, nullptr, cfg);
        REQUIRE(mgr->start().ok());
        REQUIRE(mgr->listen(base::Endpoint::v4(127, 0, 0, 1, 0)).ok());
        mgr->on_message = [this](const crypto::PublicKey&, std::span<const uint8_t> m) {
            got.emplace_back(m.begin(), m.end());
        };
        mgr->on_down = [this](const crypto::PublicKey&, const session::Closed& why) {
            closed.push_back(why.to_string());
        };
    }
    base::Endpoint at() const { return mgr->listening().front(); }
    // Opens a session to `other` at `at`; the status once the attempt ends.
    void connect(const crypto::PublicKey& peer, const base::Endpoint& where, std::optional<base::Status>& out) {
        mgr->connect(peer, where, [&out](const session::ConnectReport& r) { out = r.status; });
    }
};

std::unique_ptr<net::LoopTurn> make_turn(net::Loop& loop) {
    auto t = net::LoopTurn::make(loop);
    REQUIRE(t);
    return std::move(*t);
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

// A port that was just free: bind a session listener, note its port, drop it.
base::Endpoint refused_endpoint(net::Loop& loop, net::LoopTurn& turn) {
    Node tmp{loop, turn, crypto::Identity::generate()};
    base::Endpoint at = tmp.at();
    tmp.mgr->close_all();
    return at;
}

// A listener that accepts TCP and never answers: its connections are kept in `held`.
std::unique_ptr<net::TcpListener> silent_listener(net::Loop& loop,
                                                  std::vector<std::unique_ptr<net::TcpConnection>>& held) {
    auto l = net::TcpListener::listen(loop, base::Endpoint::v4(127, 0, 0, 1, 0),
                                      [&held](std::unique_ptr<net::TcpConnection> c) {
                                          c->start([](std::span<const uint8_t>) {}, [](const std::string&) {});
                                          held.push_back(std::move(c));
                                      });
    REQUIRE(l);
    return std::move(*l);
}

}  // namespace

TEST_CASE("sessions over TCP: 10,000 frames each way, in order, then a clean close") {
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        Node a{loop, *turn, vectors::alice()}, b{loop, *turn, vectors::bob()};
        std::optional<base::Status> result;
        a.connect(b.id.public_key, b.at(), result);
        REQUIRE(run_until(loop, [&] { return result.has_value(); }, 5s));
        REQUIRE(result->ok());
        REQUIRE(run_until(loop, [&] { return b.mgr->connected(a.id.public_key); }, 5s));
        const int n = 10000;
        int sent_a = 0, sent_b = 0;
        // Send in batches, respecting backpressure.
        auto pump = [&] {
            a.mgr->cork();
            b.mgr->cork();
            for (int i = 0; i < 500 && sent_a < n; ++i, ++sent_a)
                REQUIRE(a.mgr->send(b.id.public_key, bytes("a->b " + std::to_string(sent_a))).ok());
            for (int i = 0; i < 500 && sent_b < n; ++i, ++sent_b)
                REQUIRE(b.mgr->send(a.id.public_key, bytes("b->a " + std::to_string(sent_b))).ok());
            a.mgr->uncork();
            b.mgr->uncork();
        };
        REQUIRE(run_until(loop, [&] {
            if (sent_a < n || sent_b < n) pump();
            return a.got.size() == n && b.got.size() == n;
        }, 30s));
        for (int i = 0; i < n; ++i) {
            REQUIRE(b.got[static_cast<size_t>(i)] == "a->b " + std::to_string(i));
            REQUIRE(a.got[static_cast<size_t>(i)] == "b->a " + std::to_string(i));
        }
        auto pa = a.mgr->peers();
        REQUIRE(pa.size() == 1);
        CHECK(pa[0].peer == b.id.public_key);
        CHECK(pa[0].link.outbound);
        CHECK(pa[0].link.path == session::Path::tcp);
        CHECK(pa[0].link.method == session::Method::dial);
        CHECK(b.mgr->peers()[0].link.method == session::Method::accept);
        CHECK(pa[0].frames_out >= n);
        CHECK(pa[0].frames_in >= n);
        a.mgr->disconnect(b.id.public_key, "test over");
        REQUIRE(run_until(loop, [&] { return !b.closed.empty(); }, 5s));
        CHECK(b.closed[0] == "peer closed: disconnect: test over");
        CHECK_FALSE(a.mgr->connected(b.id.public_key));
        a.mgr->close_all();
        b.mgr->close_all();
    }
    run_until(loop, [] { return false; }, 50ms);
}

TEST_CASE("sessions over TCP: a bulk sender paced by on_room; send() refuses at high water") {
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        cli::SessionHostConfig cfg;
        cfg.table.high_water = size_t{4} << 20;
        cfg.low_water = size_t{1} << 20;
        Node a{loop, *turn, vectors::alice(), cfg}, b{loop, *turn, vectors::bob(), cfg};
        std::optional<base::Status> up;
        a.connect(b.id.public_key, b.at(), up);
        REQUIRE(run_until(loop, [&] { return up && up->ok() && b.mgr->connected(a.id.public_key); }, 5s));

        // Largest messages, each one's bytes derived from its number, so a lost, repeated,
        // reordered or damaged one shows.
        const size_t size = crypto::kMaxFrameBody;
        const uint32_t total = 1000;  // about 65 MB
        auto message = [&](uint32_t n) {
            std::vector<uint8_t> m(size);
            for (size_t i = 0; i < size; ++i) m[i] = static_cast<uint8_t>((n * 31 + i * 7) ^ (i >> 8));
            return m;
        };
        uint32_t next_in = 0;
        bool intact = true;
        b.mgr->on_message = [&](const crypto::PublicKey&, std::span<const uint8_t> m) {
            auto want = message(next_in++);
            intact = intact && m.size() == want.size() && std::equal(m.begin(), m.end(), want.begin());
        };
        uint32_t sent = 0;
        size_t room_calls = 0, room_with_queue = 0, refused = 0;
        auto fill = [&] {
            // Until the host refuses: it must refuse at high water, not queue without bound.
            a.mgr->cork();
            while (sent < total) {
                auto st = a.mgr->send(b.id.public_key, message(sent));
                if (!st.ok()) {
                    CHECK(st.code() == base::Errc::limit);
                    ++refused;
                    break;
                }
                ++sent;
                a.mgr->uncork();  // each message its own write, so the queue empties step by step
                a.mgr->cork();
            }
            a.mgr->uncork();
            CHECK(a.mgr->queued_bytes(b.id.public_key) <= cfg.table.high_water + size + 64);
        };
        a.mgr->on_room = [&](const crypto::PublicKey&) {
            ++room_calls;
            if (a.mgr->queued_bytes(b.id.public_key) > 0) ++room_with_queue;
            fill();
        };
        fill();
        REQUIRE(run_until(loop, [&] { return next_in == total; }, 60s));
        CHECK(intact);
        CHECK(sent == total);
        CHECK(refused > 0);            // the sender outran the socket and was told so
        CHECK(room_with_queue > 0);    // and was let go on before the queue ran dry
        CHECK(room_calls >= refused);
        a.mgr->close_all();
        b.mgr->close_all();
    }
    run_until(loop, [] { return false; }, 50ms);
}

TEST_CASE("sessions over TCP: two nodes dialing each other at once keep one session, the same one") {
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        Node a{loop, *turn, vectors::alice()}, b{loop, *turn, vectors::bob()};
        std::optional<base::Status> ra, rb;
        a.connect(b.id.public_key, b.at(), ra);
        b.connect(a.id.public_key, a.at(), rb);
        REQUIRE(run_until(loop, [&] { return ra && rb; }, 5s));
        CHECK(ra->ok());
        CHECK(rb->ok());
        // Let the losing connection's close go through.
        run_until(loop, [] { return false; }, 300ms);
        auto pa = a.mgr->peers(), pb = b.mgr->peers();
        if (pa.size() != 1) for (auto& l : a.log.lines()) MESSAGE(l);
        if (pb.size() != 1) for (auto& l : b.log.lines()) MESSAGE(l);
        REQUIRE(pa.size() == 1);
        REQUIRE(pb.size() == 1);
        bool a_smaller = a.id.public_key < b.id.public_key;
        CHECK(pa[0].link.outbound == a_smaller);
        CHECK(pb[0].link.outbound == !a_smaller);
        CHECK(a.mgr->stats().duplicates_closed + b.mgr->stats().duplicates_closed >= 1);
        REQUIRE(a.mgr->send(b.id.public_key, bytes("still talking")).ok());
        REQUIRE(run_until(loop, [&] { return b.got.size() == 1; }, 5s));
        CHECK(b.got[0] == "still talking");
        a.mgr->close_all();
        b.mgr->close_all();
    }
    run_until(loop, [] { return false; }, 50ms);
}

TEST_CASE("sessions over TCP: simultaneous open from both listening ports gives one session") {
    // Both ends connect() from their listening port to the other's at the same moment (what NAT
    // traversal does). On loopback one SYN usually reaches the other's listener first; either
    // way exactly one session must come up, with agreed roles.
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        Node a{loop, *turn, vectors::alice()}, b{loop, *turn, vectors::bob()};
        bool up_a = false, up_b = false;
        a.mgr->on_up = [&](const crypto::PublicKey&, const session::LinkInfo&) { up_a = true; };
        b.mgr->on_up = [&](const crypto::PublicKey&, const session::LinkInfo&) { up_b = true; };
        // What the connector asks for in a punch, without the rest of the attempt.
        session::ConnectorIo& ia = *a.mgr;
        session::ConnectorIo& ib = *b.mgr;
        auto la = ia.dial(b.id.public_key, b.at(), session::Method::simultaneous_open, true);
        auto lb = ib.dial(a.id.public_key, a.at(), session::Method::simultaneous_open, true);
        CHECK((la != 0 || lb != 0));
        REQUIRE(run_until(loop, [&] { return up_a && up_b; }, 5s));
        run_until(loop, [] { return false; }, 200ms);
        REQUIRE(a.mgr->peers().size() == 1);
        REQUIRE(b.mgr->peers().size() == 1);
        CHECK(a.mgr->peers()[0].link.outbound != b.mgr->peers()[0].link.outbound);
        REQUIRE(a.mgr->send(b.id.public_key, bytes("over the simultaneous link")).ok());
        REQUIRE(run_until(loop, [&] { return b.got.size() == 1; }, 5s));
        a.mgr->close_all();
        b.mgr->close_all();
    }
    run_until(loop, [] { return false; }, 50ms);
}

TEST_CASE("sessions over TCP: nobody listening, a silent peer, a peer that hangs up mid-handshake, garbage") {
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        cli::SessionHostConfig cfg;
        cfg.table.session.handshake_timeout = 300ms;
        Node a{loop, *turn, vectors::alice(), cfg};
        crypto::Identity bob = vectors::bob();
        std::vector<std::unique_ptr<net::TcpConnection>> held;
        std::optional<base::Status> r;
        SUBCASE("connection refused") {
            base::Endpoint dead = refused_endpoint(loop, *turn);
            a.connect(bob.public_key, dead, r);
            REQUIRE(run_until(loop, [&] { return r.has_value(); }, 5s));
            CHECK_FALSE(r->ok());
            CHECK(r->detail().find("link_failed") != std::string::npos);
        }
        SUBCASE("accepts TCP but never answers the handshake") {
            auto l = silent_listener(loop, held);
            a.connect(bob.public_key, l->local(), r);
            REQUIRE(run_until(loop, [&] { return r.has_value(); }, 5s));
            CHECK_FALSE(r->ok());
            CHECK(r->detail().find("handshake_timeout") != std::string::npos);
        }
        SUBCASE("hangs up after reading the init") {
            auto l = net::TcpListener::listen(loop, base::Endpoint::v4(127, 0, 0, 1, 0),
                                              [&](std::unique_ptr<net::TcpConnection> c) {
                                                  auto* raw = c.get();
                                                  held.push_back(std::move(c));
                                                  raw->start([&held](std::span<const uint8_t>) { held.clear(); },
                                                             [](const std::string&) {});
                                              });
            REQUIRE(l);
            a.connect(bob.public_key, (*l)->local(), r);
            REQUIRE(run_until(loop, [&] { return r.has_value(); }, 5s));
            CHECK_FALSE(r->ok());
        }
        SUBCASE("answers with garbage") {
            auto l = net::TcpListener::listen(loop, base::Endpoint::v4(127, 0, 0, 1, 0),
                                              [&](std::unique_ptr<net::TcpConnection> c) {
                                                  auto* raw = c.get();
                                                  held.push_back(std::move(c));
                                                  raw->start([raw](std::span<const uint8_t>) {
                                                      raw->write(std::vector<uint8_t>(100, 0x41));
                                                  }, [](const std::string&) {});
                                              });
            REQUIRE(l);
            a.connect(bob.public_key, (*l)->local(), r);
            REQUIRE(run_until(loop, [&] { return r.has_value(); }, 5s));
            CHECK_FALSE(r->ok());
        }
        a.mgr->close_all();
        held.clear();
    }
    run_until(loop, [] { return false; }, 50ms);
}

TEST_CASE("sessions over TCP: a lost peer is redialled; it is back on the same port; idle sessions close for good") {
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        cli::SessionHostConfig cfg;
        cfg.connector.retry_min = 100ms;
        cfg.connector.retry_max = 400ms;
        Node a{loop, *turn, vectors::alice(), cfg};
        auto b = std::make_unique<Node>(loop, *turn, vectors::bob());
        base::Endpoint b_at = b->at();
        std::optional<base::Status> up;
        a.connect(b->id.public_key, b_at, up);
        REQUIRE(run_until(loop, [&] { return up && up->ok(); }, 5s));
        // b goes away (its process dies): a notices and keeps trying.
        b->mgr.reset();
        b.reset();
        REQUIRE(run_until(loop, [&] { return !a.mgr->connected(vectors::bob().public_key); }, 5s));
        REQUIRE(run_until(loop, [&] { return a.mgr->connector_stats().failed >= 3; }, 5s));
        // b comes back on the same port: a is connected again without being asked.
        crypto::Identity bob = vectors::bob();
        crypto::SessionKeys bkeys{bob};
        crypto::SodiumRng brng;
        base::CaptureLogger blog{base::Level::debug};
        cli::SessionHost bm{loop, *turn, bkeys, brng, blog, nullptr};
        REQUIRE(bm.start().ok());
        REQUIRE(bm.listen(b_at).ok());
        REQUIRE(run_until(loop, [&] { return a.mgr->connected(bob.public_key); }, 5s));
        bm.close_all();
        a.mgr->close_all();
    }
    {
        auto turn = make_turn(loop);
        cli::SessionHostConfig cfg;
        cfg.table.session.idle_close = 300ms;
        cfg.connector.retry_min = 50ms;
        Node a{loop, *turn, vectors::alice(), cfg}, b{loop, *turn, vectors::bob(), cfg};
        std::optional<base::Status> up;
        a.connect(b.id.public_key, b.at(), up);
        REQUIRE(run_until(loop, [&] { return up && up->ok(); }, 5s));
        REQUIRE(run_until(loop, [&] { return !a.closed.empty(); }, 5s));
        CHECK(a.closed[0].find("idle") != std::string::npos);
        run_until(loop, [] { return false; }, 300ms);
        CHECK_FALSE(a.mgr->connected(b.id.public_key));  // not redialled
        CHECK(a.mgr->connector_stats().attempts == 1);
        a.mgr->close_all();
        b.mgr->close_all();
    }
    run_until(loop, [] { return false; }, 50ms);
}

TEST_CASE("sessions over TCP: under load every init needs a cookie, and sessions still open") {
    net::Loop loop;
    {
        auto turn = make_turn(loop);
        cli::SessionHostConfig cfg;
        cfg.table.load_inits_per_s = 0;  // always under load
        Node a{loop, *turn, vectors::alice()}, b{loop, *turn, vectors::bob(), cfg};
        std::optional<base::Status> up;
        a.connect(b.id.public_key, b.at(), up);
        REQUIRE(run_until(loop, [&] { return up && up->ok(); }, 5s));
        CHECK(b.mgr->stats().cookies_sent >= 1);
        REQUIRE(a.mgr->send(b.id.public_key, bytes("after a cookie")).ok());
        REQUIRE(run_until(loop, [&] { return b.got.size() == 1; }, 5s));
        a.mgr->close_all();
        b.mgr->close_all();
    }
    run_until(loop, [] { return false; }, 50ms);
}
