// session::Connector under virtual time with a scripted ConnectorIo: what it asks for (lookups,
// dials), when it gives up, how it backs off, and when it redials.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "session/connector.hpp"

using namespace std::chrono_literals;
using session::CloseReason;
using session::LinkId;

namespace {

crypto::PublicKey key(uint8_t b) {
    crypto::PublicKey k{};
    k.fill(b);
    return k;
}

struct FakeIo final : session::ConnectorIo {
    bool dht_ready = true;
    std::set<crypto::PublicKey> live;
    std::vector<crypto::PublicKey> lookups;
    struct Dial {
        crypto::PublicKey peer;
        base::Endpoint to;
        session::Method method;
        bool simultaneous;
        LinkId link;
    };
    std::vector<Dial> dials;
    std::vector<LinkId> cancelled;
    std::vector<crypto::PublicKey> attempts;
    std::vector<std::string> unreachable_why;
    LinkId next = 1;

    bool can_look_up() override { return dht_ready; }
    void look_up(const crypto::PublicKey& peer) override { lookups.push_back(peer); }
    LinkId dial(const crypto::PublicKey& peer, const base::Endpoint& to, session::Method m, bool sim) override {
        dials.push_back({peer, to, m, sim, next});
        return next++;
    }
    void cancel(LinkId link) override { cancelled.push_back(link); }
    bool connected(const crypto::PublicKey& peer) override { return live.count(peer) > 0; }
    void attempting(const crypto::PublicKey& peer) override { attempts.push_back(peer); }
    void unreachable(const crypto::PublicKey&, const std::string& why) override { unreachable_why.push_back(why); }
    std::vector<session::Candidate> own_candidates() override { return {}; }
    std::vector<session::Rendezvous> offers;  // where offers went
    void send_offer(const crypto::PublicKey&, const session::Rendezvous& via, const std::string&) override {
        offers.push_back(via);
    }
    void send_probe(const base::Endpoint&, std::span<const uint8_t>, session::SocketId) override {}
    session::LinkId open_datagram(const crypto::PublicKey&, const base::Endpoint&, session::Method,
                                  session::SocketId) override {
        return 0;
    }
    std::vector<session::Rendezvous> relays_opened;
    LinkId open_relay(const crypto::PublicKey&, const session::Rendezvous& v) override {
        relays_opened.push_back(v);
        return next++;
    }
};

struct Fixture {
    base::TimePoint now = base::TimePoint{} + 1000h;
    FakeIo io;
    base::SeededRng rng{3};
    base::CaptureLogger log{base::Level::debug};
    session::ConnectorConfig cfg;
    crypto::Identity me = crypto::Identity::from_rng(rng);
    std::unique_ptr<session::Connector> c;
    Fixture() {
        cfg.retry_min = 1s;
        cfg.retry_max = 60s;
        c = std::make_unique<session::Connector>(io, me, rng, log, cfg, now, 1'800'000'000'000);
    }
    // Advances virtual time to `t`, ticking at every deadline on the way.
    void run_to(base::TimePoint t) {
        for (;;) {
            auto next = c->tick(now);
            if (next > t) break;
            now = std::max(next, now + 1ms);
        }
        now = t;
        c->tick(now);
    }
    void run_for(base::Duration d) { run_to(now + d); }
    session::LinkInfo up(LinkId id) {
        session::LinkInfo l;
        l.id = id;
        return l;
    }
};

const base::Endpoint kEp = base::Endpoint::v4(198, 51, 100, 7, 44544);

}  // namespace

TEST_CASE("connector: want -> lookup -> dial what the lookup found -> up; the report lists the path") {
    Fixture f;
    auto p = key(1);
    std::optional<session::ConnectReport> rep;
    f.c->connect(p, std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, f.now);
    REQUIRE(f.io.lookups.size() == 1);
    CHECK(f.io.attempts.size() == 1);
    f.now += 120ms;
    f.c->on_lookup(p, {true, kEp, 9, 5, {}, std::nullopt}, f.now);
    REQUIRE(f.io.dials.size() == 1);
    CHECK(f.io.dials[0].to == kEp);
    f.now += 30ms;
    f.io.live.insert(p);
    f.c->on_session_up(p, f.up(f.io.dials[0].link), f.now);
    REQUIRE(rep);
    CHECK(rep->status.ok());
    CHECK(base::to_ms(rep->lookup) == doctest::Approx(120));
    CHECK(base::to_ms(rep->total) == doctest::Approx(150));
    REQUIRE(rep->tried.size() == 1);
    CHECK(rep->tried[0].outcome == "up");
    CHECK(f.c->wanted(p));  // the user's session is kept up from now on
}

TEST_CASE("connector: not in the DHT: reported at once, retried with backoff while wanted, not after release") {
    Fixture f;
    auto p = key(2);
    f.c->want(p, session::Want::chat, f.now);
    std::vector<base::TimePoint> starts;
    for (int i = 0; i < 8; ++i) {
        REQUIRE(f.io.lookups.size() == static_cast<size_t>(i + 1));
        starts.push_back(f.now);
        f.c->on_lookup(p, {false, {}, 12, 0, {}, std::nullopt}, f.now);
        REQUIRE(f.io.unreachable_why.size() == static_cast<size_t>(i + 1));
        CHECK(f.io.unreachable_why.back().find("not found in the DHT") != std::string::npos);
        // Run until the next attempt starts.
        auto before = f.io.lookups.size();
        for (int step = 0; step < 100000 && f.io.lookups.size() == before; ++step) f.run_for(10ms);
    }
    // 1, 2, 4, 8, 16, 32, 60, 60 s (plus up to a tenth of jitter).
    std::vector<double> gaps;
    for (size_t i = 1; i < starts.size(); ++i) gaps.push_back(base::to_ms(starts[i] - starts[i - 1]) / 1000.0);
    double expect[] = {1, 2, 4, 8, 16, 32, 60};
    for (size_t i = 0; i < gaps.size(); ++i) {
        CAPTURE(i);
        CHECK(gaps[i] >= expect[i] - 0.02);
        CHECK(gaps[i] <= expect[i] * 1.1 + 0.02);
    }
    f.c->on_lookup(p, {false, {}, 12, 0, {}, std::nullopt}, f.now);
    f.c->release(p, session::Want::chat, f.now);
    auto n = f.io.lookups.size();
    f.run_for(10min);
    CHECK(f.io.lookups.size() == n);
}

TEST_CASE("connector: a one-shot connect that fails is not retried") {
    Fixture f;
    auto p = key(3);
    std::optional<session::ConnectReport> rep;
    f.c->connect(p, kEp, [&](const session::ConnectReport& r) { rep = r; }, f.now);
    REQUIRE(f.io.dials.size() == 1);
    CHECK(f.io.lookups.empty());  // --via skips the lookup
    f.c->on_attempt_failed(p, f.io.dials[0].link, {CloseReason::link_failed, false, "refused"}, f.now);
    REQUIRE(rep);
    CHECK_FALSE(rep->status.ok());
    CHECK(rep->tried[0].outcome == "link_failed: refused");
    f.run_for(5min);
    CHECK(f.io.dials.size() == 1);
    CHECK_FALSE(f.c->wanted(p));
}

TEST_CASE("connector: a session that breaks is redialled after 1 s; an idle close or a disconnect is not") {
    Fixture f;
    auto p = key(4);
    f.c->connect(p, kEp, [](const session::ConnectReport&) {}, f.now);
    f.io.live.insert(p);
    f.c->on_session_up(p, f.up(f.io.dials[0].link), f.now);
    SUBCASE("peer silent") {
        f.io.live.clear();
        f.c->on_session_closed(p, {CloseReason::peer_silent, false, {}}, f.now);
        f.run_for(900ms);
        CHECK(f.io.dials.size() == 1);
        f.run_for(200ms);
        CHECK(f.io.dials.size() == 2);
        CHECK(f.io.dials[1].to == kEp);  // the endpoint the user gave is remembered
        CHECK(f.c->stats().redials == 1);
    }
    SUBCASE("idle, either side") {
        f.io.live.clear();
        f.c->on_session_closed(p, {CloseReason::idle, true, {}}, f.now);
        f.run_for(5min);
        CHECK(f.io.dials.size() == 1);
        CHECK_FALSE(f.c->wanted(p));
    }
    SUBCASE("a disconnect asked for here") {
        f.io.live.clear();
        f.c->on_session_closed(p, {CloseReason::disconnect, false, {}}, f.now);
        f.run_for(5min);
        CHECK(f.io.dials.size() == 1);
    }
}

TEST_CASE("connector: while joining, the lookup waits for the first DHT contact") {
    Fixture f;
    f.io.dht_ready = false;
    auto p = key(5);
    f.c->want(p, session::Want::chat, f.now);
    f.run_for(1s);
    CHECK(f.io.lookups.empty());
    CHECK(f.c->attempting(p));
    f.io.dht_ready = true;
    f.run_for(150ms);
    CHECK(f.io.lookups.size() == 1);
}

TEST_CASE("connector: an attempt whose paths never answer ends at attempt_timeout; its dials are cancelled") {
    Fixture f;
    auto p = key(6);
    f.c->want(p, session::Want::chat, f.now);
    f.c->on_lookup(p, {true, kEp, 3, 3, {}, std::nullopt}, f.now);
    REQUIRE(f.io.dials.size() == 1);
    f.run_for(f.cfg.attempt_timeout + 1ms);
    REQUIRE(f.io.unreachable_why.size() == 1);
    CHECK(f.io.cancelled == std::vector<LinkId>{f.io.dials[0].link});
}

TEST_CASE("connector: a retry that falls due during an attempt starts no second attempt and does not spin") {
    // The redial busy loop of the old session manager, as a policy question: while an attempt is
    // in flight, the deadline returned is in the future, and nothing new is dialled.
    Fixture f;
    auto p = key(7);
    f.c->want(p, session::Want::chat, f.now);
    f.c->on_lookup(p, {true, kEp, 3, 3, {}, std::nullopt}, f.now);
    f.c->on_attempt_failed(p, f.io.dials[0].link, {CloseReason::link_failed, false, "refused"}, f.now);
    // The peer was offered our candidates too, directly; that fails as well (the DHT's timeout).
    REQUIRE(f.io.offers.size() == 1);
    CHECK(f.io.offers[0].endpoint == kEp);
    CHECK(f.c->attempting(p));  // not over while the offer is out
    f.c->on_offer_reply(p, {false, {}, std::nullopt, "no answer"}, f.now);
    CHECK_FALSE(f.c->attempting(p));
    f.run_for(1200ms);  // the retry starts
    REQUIRE(f.io.lookups.size() == 2);
    f.c->want(p, session::Want::user, f.now);  // someone else wants it too meanwhile
    for (int i = 0; i < 50; ++i) {
        auto next = f.c->tick(f.now);
        CHECK(next > f.now);
        f.now += 10ms;
    }
    CHECK(f.io.lookups.size() == 2);
    CHECK(f.c->stats().attempts == 2);
}

TEST_CASE("connector: an inbound session from the peer ends our attempt as a success") {
    Fixture f;
    auto p = key(8);
    bool ok = false;
    f.c->connect(p, std::nullopt, [&](const session::ConnectReport& r) { ok = r.status.ok(); }, f.now);
    f.c->on_lookup(p, {true, kEp, 3, 3, {}, std::nullopt}, f.now);
    f.io.live.insert(p);
    f.c->on_session_up(p, f.up(999), f.now);
    CHECK(ok);
    CHECK(f.io.cancelled == std::vector<LinkId>{f.io.dials[0].link});
}

TEST_CASE("connector: an attempt whose relayed session is disconnected opens the relay again when asked") {
    // The lab saw this: reached over a relay, still punching, the user disconnects and connects
    // again at once; the new request joined the attempt, whose relay was used up, and it ended in
    // "no direct path" although the relay worked.
    base::TimePoint now = base::TimePoint{} + 1000h;
    FakeIo io;
    base::SeededRng rng{5};
    base::CaptureLogger log{base::Level::debug};
    session::ConnectorConfig cfg;
    auto me = crypto::Identity::from_rng(rng);
    session::Connector c(io, me, rng, log, cfg, now, 1'800'000'000'000);
    auto p = key(7);
    const session::Rendezvous relay{key(9), base::Endpoint::v4(203, 0, 113, 1, 44544), true};
    std::vector<session::ConnectReport> reps;
    auto done = [&](const session::ConnectReport& r) { reps.push_back(r); };
    c.connect(p, std::nullopt, done, now);
    now += 50ms;
    c.on_lookup(p, {false, {}, 5, 5, {relay}, base::Endpoint::v4(198, 51, 100, 9, 4000)}, now);
    REQUIRE(io.relays_opened.size() == 1);
    LinkId circuit = io.next - 1;
    now += 10ms;
    session::LinkInfo l;
    l.id = circuit;
    l.path = session::Path::relay;
    l.method = session::Method::relay;
    io.live.insert(p);
    c.on_session_up(p, l, now);
    REQUIRE(reps.size() == 1);
    CHECK(reps[0].status.ok());
    // The user disconnects: nobody wants the peer, so no relay is opened yet.
    c.release(p, session::Want::user, now);
    io.live.erase(p);
    c.on_session_closed(p, {CloseReason::disconnect, false, "asked by the user"}, now);
    CHECK(io.relays_opened.size() == 1);
    // The user connects again while the attempt still punches: the relay is opened again and
    // the request is answered by it, not by the attempt's end.
    now += 100ms;
    c.connect(p, std::nullopt, done, now);
    REQUIRE(io.relays_opened.size() == 2);
    CHECK(io.relays_opened[1].id == relay.id);
    l.id = io.next - 1;
    io.live.insert(p);
    now += 10ms;
    c.on_session_up(p, l, now);
    REQUIRE(reps.size() == 2);
    CHECK(reps[1].status.ok());
}
