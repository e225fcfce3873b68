// The handshake wrapper, transport frames and the Session state machine, all sans-I/O under a
// simulated clock: every byte flipped, every truncation, replays, cookies, rekeying, keepalives.
#include <doctest/doctest.h>

#include <cstring>

#include "base/rng.hpp"
#include "crypto/session.hpp"
#include "vectors.hpp"

using namespace crypto;
using namespace std::chrono_literals;

namespace {
base::TimePoint t0() { return base::TimePoint{} + 1000s; }
std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

struct Pair {
    Identity a_id = vectors::alice(), b_id = vectors::bob();
    SessionKeys a{a_id}, b{b_id};
    base::SeededRng rng{42};
    CookieJar jar{rng, t0()};
    bool load = false;
    uint64_t last_ts = 0;
    ResponderContext ctx() {
        return ResponderContext{&jar, [this] { return load; }, [this](const PublicKey&, uint64_t ts) {
                                    if (ts <= last_ts) return false;
                                    last_ts = ts;
                                    return true;
                                }};
    }
};

// Moves bytes both ways until nothing is left to move.
void pump(Session& x, Session& y, base::TimePoint now) {
    for (int i = 0; i < 20 && (x.has_output() || y.has_output()); ++i) {
        if (x.mode() == Session::Mode::stream) {
            auto bx = x.take_stream_bytes();
            if (!bx.empty()) y.receive(bx, now);
            auto by = y.take_stream_bytes();
            if (!by.empty()) x.receive(by, now);
        } else {
            for (auto& d : x.take_datagrams()) y.receive(d, now);
            for (auto& d : y.take_datagrams()) x.receive(d, now);
        }
    }
}

std::vector<std::string> data_of(Session& s) {
    std::vector<std::string> out;
    for (auto& e : s.take_events())
        if (e.type == Session::Event::Type::data) {
            auto p = e.payload();
            out.emplace_back(p.begin(), p.end());
        }
    return out;
}
}  // namespace

TEST_CASE("session: both sides derive the same keys and talk, on a stream and on datagrams") {
    for (auto mode : {Session::Mode::stream, Session::Mode::datagram}) {
        Pair p;
        auto now = t0();
        auto a = Session::connect(p.a, p.b_id.public_key, mode, p.rng, {}, now, 1'700'000'000'000, bytes("hello in the init"));
        REQUIRE(a);
        auto b = Session::accept(p.b, p.ctx(), mode, p.rng, {}, now, bytes("127.0.0.1:1"));
        pump(**a, *b, now);
        REQUIRE((*a)->state() == Session::State::established);
        REQUIRE(b->state() == Session::State::established);
        CHECK(b->peer() == p.a_id.public_key);
        CHECK(data_of(*b) == std::vector<std::string>{"hello in the init"});
        for (int i = 0; i < 100; ++i) {
            REQUIRE((*a)->send(bytes("a" + std::to_string(i)), now).ok());
            REQUIRE(b->send(bytes("b" + std::to_string(i)), now).ok());
        }
        pump(**a, *b, now);
        auto got_b = data_of(*b), got_a = data_of(**a);
        REQUIRE(got_b.size() == 100);
        REQUIRE(got_a.size() == 100);
        CHECK(got_b[99] == "a99");
        CHECK(got_a[0] == "b0");
        (*a)->close("bye", now);
        pump(**a, *b, now);
        CHECK(b->state() == Session::State::closed);
        CHECK(b->close_reason() == "peer closed: bye");
    }
}

TEST_CASE("session: sends made during the handshake are delivered after it") {
    Pair p;
    auto now = t0();
    auto a = Session::connect(p.a, p.b_id.public_key, Session::Mode::stream, p.rng, {}, now, 1);
    REQUIRE(a);
    REQUIRE((*a)->send(bytes("early"), now).ok());
    auto b = Session::accept(p.b, p.ctx(), Session::Mode::stream, p.rng, {}, now, bytes("x"));
    pump(**a, *b, now);
    CHECK(data_of(*b) == std::vector<std::string>{"early"});
}

TEST_CASE("handshake: a wrong static key, a flipped byte or a truncation never establishes") {
    Pair p;
    auto now = t0();
    auto init_for = [&](const PublicKey& to) {
        auto a = Session::connect(p.a, to, Session::Mode::datagram, p.rng, {}, now, 5);
        REQUIRE(a);
        auto d = (*a)->take_datagrams();
        REQUIRE(d.size() == 1);
        return std::make_pair(std::move(*a), d[0]);
    };
    SUBCASE("init meant for someone else") {
        Identity carol = Identity::from_rng(p.rng);
        auto [a, init] = init_for(carol.public_key);
        auto r = accept_init(p.b, init, bytes("src"), false, p.jar, p.rng, now);
        CHECK(r.verdict == InitVerdict::rejected);
    }
    SUBCASE("every byte of the init flipped, every truncation") {
        auto [a, init] = init_for(p.b_id.public_key);
        CHECK(accept_init(p.b, init, bytes("src"), false, p.jar, p.rng, now).verdict == InitVerdict::accepted);
        for (size_t i = 0; i < init.size(); ++i) {
            auto bad = init;
            bad[i] ^= 0x04;
            auto r = accept_init(p.b, bad, bytes("src"), false, p.jar, p.rng, now);
            // The trailing mac2 is only checked under load; without load a flip there is harmless.
            if (i >= init.size() - kCookieMacSize) {
                CHECK(r.verdict == InitVerdict::accepted);
            } else {
                CHECK(r.verdict == InitVerdict::rejected);
            }
        }
        for (size_t len = 0; len < init.size(); ++len)
            CHECK(accept_init(p.b, std::span{init}.first(len), bytes("src"), false, p.jar, p.rng, now).verdict ==
                  InitVerdict::rejected);
    }
    SUBCASE("every byte of the response flipped, every truncation") {
        auto [a0, init0] = init_for(p.b_id.public_key);
        auto r0 = accept_init(p.b, init0, bytes("src"), false, p.jar, p.rng, now);
        noise::TransportKeys k0;
        auto resp0 = write_response(r0.init, {}, p.rng, k0);
        REQUIRE(resp0);
        for (size_t i = 0; i < resp0->size() * 2; ++i) {
            auto hs = InitiatorHandshake::create(p.a, p.b_id.public_key);
            REQUIRE(hs);
            auto init = hs->init_message({}, 10 + i, p.rng, now);
            REQUIRE(init);
            auto r = accept_init(p.b, *init, bytes("src"), false, p.jar, p.rng, now);
            REQUIRE(r.verdict == InitVerdict::accepted);
            noise::TransportKeys k;
            auto resp = write_response(r.init, {}, p.rng, k);
            REQUIRE(resp);
            if (i < resp->size()) {
                (*resp)[i] ^= 0x10;
                CHECK_FALSE(hs->on_response(*resp));
            } else {
                size_t len = i - resp->size();
                CHECK_FALSE(hs->on_response(std::span{*resp}.first(len)));
            }
        }
    }
}

TEST_CASE("handshake: under load the responder answers a cookie, without running Noise") {
    Pair p;
    auto now = t0();
    auto hs = InitiatorHandshake::create(p.a, p.b_id.public_key);
    REQUIRE(hs);
    auto init = hs->init_message(bytes("payload"), 100, p.rng, now);
    REQUIRE(init);
    // An init whose Noise part is garbage but whose mac1 is right: a responder that ran Noise
    // (and its DH) would reject it; one that asks for a cookie first never looks inside.
    auto garbage = *init;
    size_t mac1_at = garbage.size() - 2 * kCookieMacSize;
    for (size_t i = 1; i < mac1_at; ++i) garbage[i] = 0xAA;
    auto mac1 = crypto::mac(mac1_key_for(p.b.statik.pub), std::span{garbage}.first(mac1_at));
    std::copy(mac1.begin(), mac1.end(), garbage.begin() + static_cast<std::ptrdiff_t>(mac1_at));
    CHECK(accept_init(p.b, garbage, bytes("s"), true, p.jar, p.rng, now).verdict == InitVerdict::cookie);
    CHECK(accept_init(p.b, garbage, bytes("s"), false, p.jar, p.rng, now).verdict == InitVerdict::rejected);
    auto src = bytes("198.51.100.7:4000");
    auto r = accept_init(p.b, *init, src, true, p.jar, p.rng, now);
    REQUIRE(r.verdict == InitVerdict::cookie);
    CHECK(r.reply.size() == kCookieReplySize);
    CHECK_FALSE(r.init.hs.has_value());
    // The initiator takes the cookie and its next init passes.
    REQUIRE(hs->on_cookie_reply(r.reply, now).ok());
    auto init2 = hs->init_message(bytes("payload"), 101, p.rng, now);
    REQUIRE(init2);
    auto r2 = accept_init(p.b, *init2, src, true, p.jar, p.rng, now);
    CHECK(r2.verdict == InitVerdict::accepted);
    // The cookie is bound to the source address.
    auto r3 = accept_init(p.b, *init2, bytes("203.0.113.9:4000"), true, p.jar, p.rng, now);
    CHECK(r3.verdict == InitVerdict::cookie);
    // And it expires after two rotations.
    auto r4 = accept_init(p.b, *init2, src, true, p.jar, p.rng, now + 5min);
    CHECK(r4.verdict == InitVerdict::cookie);
    // A cookie reply for another init (wrong mac1 as AD) does not decrypt.
    auto hs2 = InitiatorHandshake::create(p.a, p.b_id.public_key);
    REQUIRE(hs2);
    REQUIRE(hs2->init_message({}, 102, p.rng, now));
    CHECK_FALSE(hs2->on_cookie_reply(r.reply, now).ok());
}

TEST_CASE("handshake: without load a garbage init with a valid mac1 is rejected, not answered") {
    Pair p;
    auto now = t0();
    auto hs = InitiatorHandshake::create(p.a, p.b_id.public_key);
    auto init = hs->init_message({}, 1, p.rng, now);
    REQUIRE(init);
    auto bad = *init;
    bad[40] ^= 1;
    CHECK(accept_init(p.b, bad, bytes("s"), false, p.jar, p.rng, now).verdict == InitVerdict::rejected);
}

TEST_CASE("session: the cookie round trip over a session under load") {
    Pair p;
    p.load = true;
    auto now = t0();
    auto a = Session::connect(p.a, p.b_id.public_key, Session::Mode::datagram, p.rng, {}, now, 7);
    REQUIRE(a);
    auto b = Session::accept(p.b, p.ctx(), Session::Mode::datagram, p.rng, {}, now, bytes("src"));
    pump(**a, *b, now);
    CHECK((*a)->state() == Session::State::established);
    CHECK(b->state() == Session::State::established);
}

TEST_CASE("session: a replayed init is refused by the timestamp check") {
    Pair p;
    auto now = t0();
    auto a = Session::connect(p.a, p.b_id.public_key, Session::Mode::datagram, p.rng, {}, now, 1000);
    auto init = (*a)->take_datagrams().at(0);
    auto b1 = Session::accept(p.b, p.ctx(), Session::Mode::datagram, p.rng, {}, now, bytes("s"));
    b1->receive(init, now);
    CHECK(b1->state() == Session::State::established);
    auto b2 = Session::accept(p.b, p.ctx(), Session::Mode::datagram, p.rng, {}, now, bytes("s"));
    b2->receive(init, now);
    CHECK(b2->state() == Session::State::handshaking);
    CHECK(b2->dropped() == 1);
}

namespace {
struct Established {
    Pair p;
    std::unique_ptr<Session> a, b;
    explicit Established(Session::Mode mode, SessionConfig cfg = {}) {
        auto now = t0();
        a = std::move(*Session::connect(p.a, p.b_id.public_key, mode, p.rng, cfg, now, 1));
        b = Session::accept(p.b, p.ctx(), mode, p.rng, cfg, now, bytes("s"));
        pump(*a, *b, now);
        REQUIRE(a->state() == Session::State::established);
        a->take_events();
        b->take_events();
    }
};
}  // namespace

TEST_CASE("frames on a stream: a flipped byte, a replay, a reorder or a truncation closes the session") {
    auto now = t0();
    SUBCASE("each byte of a frame flipped") {
        Established e0{Session::Mode::stream};
        REQUIRE(e0.a->send(bytes("frame"), now).ok());
        auto frame = e0.a->take_stream_bytes();
        for (size_t i = 0; i < frame.size(); ++i) {
            Established e{Session::Mode::stream};
            REQUIRE(e.a->send(bytes("frame"), now).ok());
            auto f = e.a->take_stream_bytes();
            REQUIRE(f.size() == frame.size());
            f[i] ^= 0x20;
            e.b->receive(f, now);
            // A flip in the length prefix makes the frame incomplete (longer) or cuts it short.
            if (i >= 2) CHECK(e.b->state() == Session::State::closed);
            CHECK(data_of(*e.b).empty());
        }
    }
    SUBCASE("replayed frame") {
        Established e{Session::Mode::stream};
        REQUIRE(e.a->send(bytes("once"), now).ok());
        auto f = e.a->take_stream_bytes();
        e.b->receive(f, now);
        CHECK(data_of(*e.b) == std::vector<std::string>{"once"});
        e.b->receive(f, now);
        CHECK(e.b->state() == Session::State::closed);
        CHECK(e.b->close_reason().find("replayed or reordered") != std::string::npos);
    }
    SUBCASE("reordered frames") {
        Established e{Session::Mode::stream};
        REQUIRE(e.a->send(bytes("one"), now).ok());
        auto f1 = e.a->take_stream_bytes();
        REQUIRE(e.a->send(bytes("two"), now).ok());
        auto f2 = e.a->take_stream_bytes();
        e.b->receive(f2, now);
        CHECK(e.b->state() == Session::State::closed);
    }
    SUBCASE("a truncated frame body (length prefix rewritten) fails to authenticate") {
        Established e0{Session::Mode::stream};
        REQUIRE(e0.a->send(bytes("truncate me"), now).ok());
        auto f0 = e0.a->take_stream_bytes();
        for (size_t len = 1; len < f0.size() - 2; ++len) {
            Established e{Session::Mode::stream};
            REQUIRE(e.a->send(bytes("truncate me"), now).ok());
            auto f = e.a->take_stream_bytes();
            std::vector<uint8_t> cut(2 + len);  // (vector::insert here trips GCC 12's -Warray-bounds)
            cut[0] = static_cast<uint8_t>(len >> 8);
            cut[1] = static_cast<uint8_t>(len);
            std::memcpy(cut.data() + 2, f.data() + 2, len);
            e.b->receive(cut, now);
            CHECK(e.b->state() == Session::State::closed);
        }
    }
    SUBCASE("an oversized send is refused, a zero-length message closes") {
        Established e{Session::Mode::stream};
        std::vector<uint8_t> big(kMaxFrameBody + 1);
        CHECK(e.a->send(big, now).code() == base::Errc::too_large);
        std::vector<uint8_t> max(kMaxFrameBody, 7);
        REQUIRE(e.a->send(max, now).ok());
        e.b->receive(e.a->take_stream_bytes(), now);
        auto got = data_of(*e.b);
        REQUIRE(got.size() == 1);
        CHECK(got[0].size() == kMaxFrameBody);
        std::vector<uint8_t> zero{0, 0};
        e.b->receive(zero, now);
        CHECK(e.b->state() == Session::State::closed);
    }
}

TEST_CASE("frames on datagrams: replays are dropped, reordering within the window is fine") {
    auto now = t0();
    Established e{Session::Mode::datagram};
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 2000; ++i) {
        REQUIRE(e.a->send(bytes(std::to_string(i)), now).ok());
        for (auto& d : e.a->take_datagrams()) frames.push_back(d);
    }
    // Deliver 0..999 backwards (reordered), then each of them again (replayed).
    for (int i = 999; i >= 0; --i) e.b->receive(frames[static_cast<size_t>(i)], now);
    CHECK(data_of(*e.b).size() == 1000);
    for (int i = 0; i < 1000; ++i) e.b->receive(frames[static_cast<size_t>(i)], now);
    CHECK(data_of(*e.b).empty());
    CHECK(e.b->dropped() == 1000);
    // 1999 moves the window past 0..974: those are now too old even though never... seen twice.
    e.b->receive(frames[1999], now);
    e.b->receive(frames[1000], now);  // 999 behind the top: inside the window, new
    CHECK(data_of(*e.b).size() == 2);
    // A flipped byte is dropped, not fatal: anyone can send a datagram.
    auto bad = frames[1500];
    bad[12] ^= 1;
    e.b->receive(bad, now);
    CHECK(e.b->state() == Session::State::established);
    e.b->receive(frames[1500], now);
    CHECK(data_of(*e.b).size() == 1);
}

TEST_CASE("frames: keys move to a new epoch after two minutes, and back-dated frames fail") {
    auto now = t0();
    SessionConfig cfg;
    cfg.idle_close = 1h;
    cfg.dead_after = 1h;
    Established e{Session::Mode::stream, cfg};
    REQUIRE(e.a->send(bytes("epoch 0"), now).ok());
    auto old_frame = e.a->take_stream_bytes();
    e.b->receive(old_frame, now);
    now += 3min;
    REQUIRE(e.a->send(bytes("epoch 1"), now).ok());
    CHECK(e.a->cipher()->send_epoch() == 1);
    e.b->receive(e.a->take_stream_bytes(), now);
    CHECK(e.b->cipher()->recv_epoch() == 1);
    CHECK(data_of(*e.b) == std::vector<std::string>{"epoch 0", "epoch 1"});
    REQUIRE(e.b->send(bytes("reply"), now).ok());
    e.a->receive(e.b->take_stream_bytes(), now);
    CHECK(data_of(*e.a) == std::vector<std::string>{"reply"});
}

TEST_CASE("session timers: keepalive pings measure RTT, a silent peer is declared dead, idle closes") {
    SessionConfig cfg;
    cfg.keepalive = 15s;
    cfg.dead_after = 45s;
    cfg.idle_close = 10min;
    auto now = t0();
    Established e{Session::Mode::stream, cfg};
    // Nothing sent for 15 s: a ping; the pong gives an RTT (here 0: no network in between).
    now += 16s;
    auto next = e.a->tick(now);
    CHECK(next > now);
    auto ping = e.a->take_stream_bytes();
    REQUIRE_FALSE(ping.empty());
    e.b->receive(ping, now + 3ms);
    e.a->receive(e.b->take_stream_bytes(), now + 5ms);
    REQUIRE(e.a->rtt());
    CHECK(*e.a->rtt() == 5ms);
    // b hears nothing for 45 s: dead.
    e.b->tick(now + 50s);
    CHECK(e.b->state() == Session::State::closed);
    CHECK(e.b->close_reason() == "peer silent for 45 s");
    // Keepalives alone do not keep a session open forever.
    Established f{Session::Mode::stream, cfg};
    auto t = t0();
    for (int i = 0; i < 50 && f.a->state() == Session::State::established; ++i) {
        t += 14s;
        f.a->tick(t);
        f.b->tick(t);
        pump(*f.a, *f.b, t);
    }
    CHECK(f.a->state() == Session::State::closed);
    CHECK(f.a->close_reason() == "idle");
}

TEST_CASE("session: an unanswered handshake resends on datagrams and gives up after 10 s") {
    Pair p;
    auto now = t0();
    auto a = Session::connect(p.a, p.b_id.public_key, Session::Mode::datagram, p.rng, {}, now, 1);
    REQUIRE(a);
    size_t inits = (*a)->take_datagrams().size();
    for (int i = 1; i <= 12; ++i) {
        (*a)->tick(now + std::chrono::seconds(i));
        inits += (*a)->take_datagrams().size();
    }
    CHECK(inits == 10);
    CHECK((*a)->state() == Session::State::closed);
    CHECK((*a)->close_reason() == "handshake timed out");
    // And nobody can open a session to themselves.
    CHECK_FALSE(Session::connect(p.a, p.a_id.public_key, Session::Mode::stream, p.rng, {}, now, 1));
}

TEST_CASE("session: a stream cut anywhere (byte by byte, random chunks) delivers every message whole") {
    auto now = t0();
    for (int mode = 0; mode < 2; ++mode) {
        Established e{Session::Mode::stream};
        std::vector<std::string> sent;
        for (int i = 0; i < 60; ++i) {
            std::string m(static_cast<size_t>(i * 37 % 3000), static_cast<char>('a' + i % 26));
            m += std::to_string(i);
            sent.push_back(m);
            REQUIRE(e.a->send(std::vector<uint8_t>(m.begin(), m.end()), now).ok());
        }
        auto stream = e.a->take_stream_bytes();
        base::SeededRng rng{static_cast<uint64_t>(mode + 3)};
        size_t at = 0;
        while (at < stream.size()) {
            size_t n = mode == 0 ? 1 : 1 + rng.uniform(5000);
            n = std::min(n, stream.size() - at);
            e.b->receive(std::span{stream}.subspan(at, n), now);
            at += n;
        }
        CHECK(e.b->state() == Session::State::established);
        CHECK(data_of(*e.b) == sent);
    }
}
