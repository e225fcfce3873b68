// session::SessionTable under virtual time: two or three tables joined by simulated links (TCP
// streams and lossy, reordering datagram paths), one clock, one seed. What used to be tested on
// real TCP with 2 ms polling and CPU-time checks: tie-breaks, timers, load shedding.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <memory>
#include <set>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "session/session_table.hpp"
#include "vectors.hpp"

using namespace std::chrono_literals;
using session::CloseReason;
using session::LinkId;
using session::Method;
using session::Path;

namespace {

struct Net;

struct Side final : session::LinkIo, session::SessionEvents {
    Net& net;
    crypto::Identity id;
    crypto::SessionKeys keys{id};
    base::SeededRng rng;
    base::CaptureLogger log{base::Level::debug};
    std::unique_ptr<session::SessionTable> table;
    struct Wire {
        Side* other = nullptr;
        LinkId other_link = 0;
        Path path = Path::tcp;
    };
    std::map<LinkId, Wire> wires;
    std::set<LinkId> closed_links;
    std::map<LinkId, size_t> stalled;  // link -> bytes "queued" (not written while stalled)
    std::vector<std::pair<crypto::PublicKey, session::LinkInfo>> ups;
    std::vector<std::string> got;
    std::vector<session::Closed> downs;
    std::vector<session::Closed> failed;
    size_t room = 0;

    Side(Net& n, crypto::Identity i, uint64_t seed, session::TableConfig cfg = {});
    const crypto::PublicKey& pk() const { return id.public_key; }

    void write(LinkId link, std::vector<uint8_t>&& bytes) override;
    void send_datagram(LinkId link, std::span<const uint8_t> d) override;
    size_t queued(LinkId link) const override {
        auto it = stalled.find(link);
        return it == stalled.end() ? 0 : it->second;
    }
    void close(LinkId link) override;

    void on_established(const crypto::PublicKey& peer, const session::LinkInfo& l) override { ups.emplace_back(peer, l); }
    void on_data(const crypto::PublicKey&, std::span<const uint8_t> p) override { got.emplace_back(p.begin(), p.end()); }
    void on_closed(const crypto::PublicKey&, const session::Closed& why) override { downs.push_back(why); }
    void on_writable(const crypto::PublicKey&) override { ++room; }
    void on_attempt_failed(const crypto::PublicKey&, LinkId, const session::Closed& why) override {
        failed.push_back(why);
    }
};

struct Net {
    base::TimePoint now = base::TimePoint{} + 1000h;
    base::SeededRng rng{7};
    base::Duration latency = 10ms;
    base::Duration jitter = 0ms;
    double loss = 0;
    size_t largest_datagram = 0;
    uint64_t datagrams = 0, lost = 0;
    std::multimap<base::TimePoint, std::function<void()>> events;
    std::vector<Side*> sides;
    LinkId next_link = 1;

    void at(base::Duration after, std::function<void()> fn) { events.emplace(now + after, std::move(fn)); }
    // Creates a link between a and b; returns (a's id, b's id).
    std::pair<LinkId, LinkId> link(Side& a, Side& b, Path path) {
        LinkId la = next_link++, lb = next_link++;
        a.wires[la] = {&b, lb, path};
        b.wires[lb] = {&a, la, path};
        return {la, lb};
    }
    // Runs events and table timers until `pred` holds or `limit` passes.
    bool run_until(const std::function<bool()>& pred, base::Duration limit) {
        auto end = now + limit;
        for (;;) {
            if (pred()) return true;
            base::TimePoint next = end;
            for (auto* s : sides) next = std::min(next, s->table->tick(now));
            if (!events.empty()) next = std::min(next, events.begin()->first);
            if (next > end) break;
            if (next > now) now = next;
            while (!events.empty() && events.begin()->first <= now) {
                auto fn = std::move(events.begin()->second);
                events.erase(events.begin());
                fn();
            }
            for (auto* s : sides) s->table->tick(now);
            if (now >= end) break;
        }
        return pred();
    }
    void run_for(base::Duration d) {
        run_until([] { return false; }, d);
    }
};

Side::Side(Net& n, crypto::Identity i, uint64_t seed, session::TableConfig cfg) : net{n}, id{std::move(i)}, rng{seed} {
    table = std::make_unique<session::SessionTable>(keys, rng, log, *this, *this, cfg, n.now, 1'800'000'000'000);
    n.sides.push_back(this);
}

void Side::write(LinkId link, std::vector<uint8_t>&& bytes) {
    if (closed_links.count(link)) return;
    if (stalled.count(link)) {
        stalled[link] += bytes.size();
        return;
    }
    Wire w = wires.at(link);
    net.at(net.latency, [w, b = std::move(bytes)] {
        if (!w.other->closed_links.count(w.other_link)) w.other->table->on_bytes(w.other_link, b, w.other->net.now);
    });
}

void Side::send_datagram(LinkId link, std::span<const uint8_t> d) {
    if (closed_links.count(link)) return;
    ++net.datagrams;
    net.largest_datagram = std::max(net.largest_datagram, d.size());
    if (net.loss > 0 && net.rng.unit() < net.loss) {
        ++net.lost;
        return;
    }
    Wire w = wires.at(link);
    auto delay = net.latency + base::Duration{static_cast<int64_t>(net.rng.uniform(
                                   static_cast<uint64_t>(net.jitter.count()) + 1))};
    net.at(delay, [w, b = std::vector<uint8_t>(d.begin(), d.end())] {
        if (!w.other->closed_links.count(w.other_link)) w.other->table->on_bytes(w.other_link, b, w.other->net.now);
    });
}

void Side::close(LinkId link) {
    if (!closed_links.insert(link).second) return;
    Wire w = wires.at(link);
    if (w.path != Path::tcp) return;  // a datagram path has no "end of stream"
    net.at(net.latency, [w] {
        if (!w.other->closed_links.count(w.other_link))
            w.other->table->on_link_down(w.other_link, "connection closed by peer", w.other->net.now);
    });
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

// a dials b over a new link of `path`.
std::pair<LinkId, LinkId> dial(Net& net, Side& a, Side& b, Path path, Method m = Method::dial, bool simultaneous = false) {
    auto [la, lb] = net.link(a, b, path);
    REQUIRE(b.table->open_inbound(lb, path, base::Endpoint::v4(192, 0, 2, 1, 1), Method::accept, net.now));
    REQUIRE(a.table->open_outbound(la, path, b.pk(), base::Endpoint::v4(192, 0, 2, 2, 2), m, net.now, simultaneous).ok());
    return {la, lb};
}

}  // namespace

TEST_CASE("session table: a dial over a stream: one session each side, data both ways, a disconnect the peer sees") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    dial(net, a, b, Path::tcp);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 1s));
    CHECK(a.ups.size() == 1);
    CHECK(a.ups[0].second.outbound);
    CHECK_FALSE(b.ups[0].second.outbound);
    CHECK(b.ups[0].second.method == Method::accept);
    REQUIRE(a.table->send(b.pk(), bytes("hello"), net.now).ok());
    REQUIRE(b.table->send(a.pk(), bytes("hi"), net.now).ok());
    REQUIRE(net.run_until([&] { return a.got.size() == 1 && b.got.size() == 1; }, 1s));
    CHECK(b.got[0] == "hello");
    a.table->disconnect(b.pk(), {CloseReason::disconnect, false, "done"}, net.now);
    REQUIRE(net.run_until([&] { return !b.downs.empty(); }, 1s));
    CHECK(b.downs[0].reason == CloseReason::disconnect);
    CHECK(b.downs[0].by_peer);
    CHECK_FALSE(session::deliberate(b.downs[0]));  // the peer may redial: it did not ask for this
    REQUIRE(a.downs.size() == 1);
    CHECK(session::deliberate(a.downs[0]));
    CHECK(b.table->stats().closed_by_reason.at("peer_disconnect") == 1);
}

TEST_CASE("session table: two dials at once keep one session, the one the smaller key started, on both ends") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    dial(net, a, b, Path::tcp);
    dial(net, b, a, Path::tcp);
    net.run_for(1s);
    REQUIRE(a.table->connected(b.pk()));
    REQUIRE(b.table->connected(a.pk()));
    bool a_smaller = a.pk() < b.pk();
    CHECK(a.table->live_link(b.pk())->outbound == a_smaller);
    CHECK(b.table->live_link(a.pk())->outbound == !a_smaller);
    CHECK(a.table->stats().duplicates_closed + b.table->stats().duplicates_closed >= 1);
    CHECK(a.downs.empty());  // the live session never went down
    REQUIRE(a.table->send(b.pk(), bytes("still talking"), net.now).ok());
    REQUIRE(net.run_until([&] { return b.got.size() == 1; }, 1s));
}

TEST_CASE("session table: simultaneous open on one link: both send an init, the smaller key's wins") {
    for (Path path : {Path::tcp, Path::udp}) {
        CAPTURE(session::path_name(path));
        Net net;
        Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
        auto [la, lb] = net.link(a, b, path);
        REQUIRE(a.table->open_outbound(la, path, b.pk(), {}, Method::simultaneous_open, net.now, true).ok());
        REQUIRE(b.table->open_outbound(lb, path, a.pk(), {}, Method::simultaneous_open, net.now, true).ok());
        REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 2s));
        bool a_smaller = a.pk() < b.pk();
        CHECK(a.table->live_link(b.pk())->outbound == a_smaller);
        CHECK(b.table->live_link(a.pk())->outbound == !a_smaller);
        CHECK(a.failed.empty());
        CHECK(b.failed.empty());
        REQUIRE(a.table->send(b.pk(), bytes("x"), net.now).ok());
        REQUIRE(b.table->send(a.pk(), bytes("y"), net.now).ok());
        REQUIRE(net.run_until([&] { return a.got.size() == 1 && b.got.size() == 1; }, 2s));
    }
}

TEST_CASE("session table: keepalives hold an idle-but-open session; idle close after 10 min is deliberate") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    dial(net, a, b, Path::tcp);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()); }, 1s));
    REQUIRE(a.table->send(b.pk(), bytes("x"), net.now).ok());
    net.run_for(9min);
    CHECK(a.table->connected(b.pk()));  // keepalive pings every 15 s; no dead-peer close
    REQUIRE(net.run_until([&] { return !a.downs.empty() && !b.downs.empty(); }, 2min));
    CHECK(a.downs[0].reason == CloseReason::idle);
    CHECK(session::deliberate(a.downs[0]));
    CHECK(b.downs[0].reason == CloseReason::idle);
    CHECK(b.downs[0].by_peer);
    CHECK(session::deliberate(b.downs[0]));
}

TEST_CASE("session table: a peer that falls silent is closed after 45 s; a silent responder fails the attempt") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    SUBCASE("dead peer") {
        auto [la, lb] = dial(net, a, b, Path::udp);
        REQUIRE(net.run_until([&] { return a.table->connected(b.pk()); }, 1s));
        b.closed_links.insert(lb);  // b's end vanishes: nothing comes back
        REQUIRE(net.run_until([&] { return !a.downs.empty(); }, 60s));
        CHECK(a.downs[0].reason == CloseReason::peer_silent);
        CHECK_FALSE(session::deliberate(a.downs[0]));
        CHECK(net.now - (base::TimePoint{} + 1000h) >= 45s);
    }
    SUBCASE("handshake timeout") {
        auto [la, lb] = net.link(a, b, Path::tcp);
        REQUIRE(a.table->open_outbound(la, Path::tcp, b.pk(), {}, Method::dial, net.now).ok());
        REQUIRE(net.run_until([&] { return !a.failed.empty(); }, 11s));  // b never reads: no table on its end
        CHECK(a.failed[0].reason == CloseReason::handshake_timeout);
        CHECK(a.downs.empty());
        CHECK(a.closed_links.count(la));
    }
}

TEST_CASE("session table: under load every init needs a cookie, and the session still opens") {
    Net net;
    session::TableConfig cfg;
    cfg.load_inits_per_s = 0;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2, cfg};
    dial(net, a, b, Path::tcp);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 1s));
    CHECK(b.table->stats().cookies_sent >= 1);
}

TEST_CASE("session table: over capacity an inbound link is refused and closed") {
    Net net;
    session::TableConfig cfg;
    cfg.max_links = 1;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2, cfg};
    auto [la1, lb1] = net.link(a, b, Path::tcp);
    auto [la2, lb2] = net.link(a, b, Path::tcp);
    CHECK(b.table->open_inbound(lb1, Path::tcp, {}, Method::accept, net.now));
    CHECK_FALSE(b.table->open_inbound(lb2, Path::tcp, {}, Method::accept, net.now));
    CHECK(b.closed_links.count(lb2));
    CHECK(b.table->stats().refused == 1);
}

TEST_CASE("session table: a new session more than 3 s after the old one replaces it (a restarted peer)") {
    Net net;
    Side a{net, vectors::alice(), 1};
    auto b = std::make_unique<Side>(net, vectors::bob(), 2);
    dial(net, a, *b, Path::tcp);
    REQUIRE(net.run_until([&] { return a.table->connected(b->pk()); }, 1s));
    LinkId first = a.table->live_link(b->pk())->id;
    // b is killed (no close frame) and comes back: it dials a, whose old session is still "up".
    auto dead = std::move(b);
    net.sides.pop_back();
    for (auto& [l, w] : dead->wires) dead->closed_links.insert(l);  // it hears and says nothing more
    b = std::make_unique<Side>(net, vectors::bob(), 3);
    net.run_for(5s);
    dial(net, *b, a, Path::tcp);
    REQUIRE(net.run_until([&] { return b->table->connected(a.pk()); }, 1s));
    net.run_for(100ms);
    CHECK(a.table->live_link(b->pk())->id != first);
    CHECK(a.downs.empty());  // a replacement, not an end
    REQUIRE(a.table->send(b->pk(), bytes("again"), net.now).ok());
    REQUIRE(net.run_until([&] { return b->got.size() == 1; }, 1s));
}

TEST_CASE("session table: a peer that moved comes back on a worse path, and that session replaces the old") {
    // b moves to another network (PROTOCOL.md §16.10): its TCP session is dead (its address is
    // gone; nothing more crosses), it ends its side and reaches a again over UDP, the only path
    // its new NAT allows. a still holds the old TCP session (its keepalives have not failed yet)
    // and must take the new one: it is not a race, b lost the old one.
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    dial(net, a, b, Path::tcp);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 1s));
    LinkId old_tcp = a.table->live_link(b.pk())->id;
    net.run_for(10s);
    for (auto& [l, w] : b.wires) b.closed_links.insert(l);  // the old path carries nothing more
    b.table->close_all({CloseReason::link_failed, false, "our network changed"}, net.now);
    dial(net, b, a, Path::udp, Method::punch);
    REQUIRE(net.run_until([&] { return b.table->connected(a.pk()) && a.table->live_link(b.pk())->id != old_tcp; }, 2s));
    CHECK(a.table->live_link(b.pk())->path == Path::udp);
    CHECK(a.downs.empty());  // a replacement, not an end
    REQUIRE(a.table->send(b.pk(), bytes("to the new network"), net.now).ok());
    REQUIRE(net.run_until([&] { return b.got.size() == 1; }, 1s));
    CHECK(b.got[0] == "to the new network");
}

TEST_CASE("session table: a TCP session replaces a UDP one (upgrade), never the other way round") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    dial(net, a, b, Path::udp, Method::punch);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 1s));
    CHECK(a.table->live_link(b.pk())->path == Path::udp);
    REQUIRE(a.table->send(b.pk(), bytes("over udp"), net.now).ok());
    REQUIRE(net.run_until([&] { return b.got.size() == 1; }, 1s));
    dial(net, b, a, Path::tcp, Method::simultaneous_open);
    REQUIRE(net.run_until([&] { return a.table->live_link(b.pk())->path == Path::tcp &&
                                       b.table->live_link(a.pk())->path == Path::tcp; }, 1s));
    CHECK(a.table->stats().upgrades + b.table->stats().upgrades >= 1);
    CHECK(a.downs.empty());
    CHECK(b.downs.empty());
    CHECK(a.ups.size() == 2);  // the owner hears of the new path
    CHECK(b.got.size() == 1);
    // A later UDP session does not take over from TCP.
    dial(net, a, b, Path::udp, Method::punch);
    net.run_for(1s);
    CHECK(a.table->live_link(b.pk())->path == Path::tcp);
    REQUIRE(a.table->send(b.pk(), bytes("over tcp"), net.now).ok());
    REQUIRE(net.run_until([&] { return b.got.size() == 2; }, 1s));
    CHECK(b.got[1] == "over tcp");
}

TEST_CASE("session table: over a lossy, reordering datagram path, 500 messages of up to 9 KB arrive in order") {
    Net net;
    net.loss = 0.05;
    net.jitter = 20ms;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    dial(net, a, b, Path::udp, Method::punch);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 10s));
    std::vector<std::string> sent;
    for (int i = 0; i < 500; ++i) {
        std::string m = "m" + std::to_string(i) + ":" + std::string(static_cast<size_t>(i * 37 % 9000), 'x');
        sent.push_back(m);
        REQUIRE(a.table->send(b.pk(), bytes(m), net.now).ok());
        if (i % 20 == 0) net.run_for(50ms);
    }
    REQUIRE(net.run_until([&] { return b.got.size() == sent.size(); }, 120s));
    CHECK(b.got == sent);
    CHECK(net.largest_datagram <= session::kMaxDatagram);
    CHECK(net.lost > 0);
    CHECK(a.table->peers(net.now)[0].retransmits > 0);
    CHECK(a.downs.empty());
}

TEST_CASE("session table: a lost handshake response on a datagram path: the resent init is answered") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    auto [la, lb] = net.link(a, b, Path::udp);
    REQUIRE(b.table->open_inbound(lb, Path::udp, {}, Method::accept, net.now));
    REQUIRE(a.table->open_outbound(la, Path::udp, b.pk(), {}, Method::punch, net.now).ok());
    // Deliver the init, then lose the response.
    net.run_until([&] { return b.table->connected(a.pk()); }, 1s);
    REQUIRE(b.table->connected(a.pk()));
    net.events.clear();
    // a resends its init after 1 s; b answers it afresh; both can talk.
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()); }, 3s));
    REQUIRE(b.table->send(a.pk(), bytes("after a lost response"), net.now).ok());
    REQUIRE(a.table->send(b.pk(), bytes("and back"), net.now).ok());
    REQUIRE(net.run_until([&] { return a.got.size() == 1 && b.got.size() == 1; }, 5s));
}

TEST_CASE("session table: a disconnect also abandons a handshake in flight, which then brings nothing back") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    auto [la, lb] = net.link(a, b, Path::udp);
    REQUIRE(b.table->open_inbound(lb, Path::udp, {}, Method::accept, net.now));
    REQUIRE(a.table->open_outbound(la, Path::udp, b.pk(), {}, Method::punch, net.now).ok());
    // b answers; the answer is lost; b's user disconnects, then a's, while a still waits.
    net.run_until([&] { return b.table->connected(a.pk()); }, 1s);
    REQUIRE(b.table->connected(a.pk()));
    net.events.clear();
    b.table->disconnect(a.pk(), {CloseReason::disconnect, false, "asked by the user"}, net.now);
    REQUIRE(a.table->handshaking(b.pk()));
    a.table->disconnect(b.pk(), {CloseReason::disconnect, false, "asked by the user"}, net.now);
    CHECK_FALSE(a.table->handshaking(b.pk()));
    REQUIRE(a.failed.size() == 1);
    CHECK(a.failed[0].reason == CloseReason::disconnect);
    // Before, a resent its init after 1 s and b answered it afresh: a session nobody wanted.
    net.run_for(5s);
    CHECK_FALSE(a.table->connected(b.pk()));
    CHECK_FALSE(b.table->connected(a.pk()));
}

TEST_CASE("session table: send() refuses at high water and says when there is room again") {
    Net net;
    session::TableConfig cfg;
    cfg.high_water = 1000;
    Side a{net, vectors::alice(), 1, cfg}, b{net, vectors::bob(), 2};
    auto [la, lb] = dial(net, a, b, Path::tcp);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()); }, 1s));
    a.stalled[la] = 0;
    base::Status st;
    int n = 0;
    while ((st = a.table->send(b.pk(), bytes(std::string(300, 'z')), net.now)).ok()) ++n;
    CHECK(st.code() == base::Errc::limit);
    CHECK(n >= 3);
    a.stalled.erase(la);
    a.table->on_link_writable(la, true, net.now);
    CHECK(a.room == 1);
    CHECK(a.table->send(b.pk(), bytes("room"), net.now).ok());
}

TEST_CASE("close reasons: tokens round-trip, unknown ones are 'other', deliberate ends are the planned ones") {
    for (size_t i = 0; i < session::kCloseReasonCount; ++i) {
        auto r = static_cast<CloseReason>(i);
        CHECK(session::parse_reason(session::reason_name(r)) == r);
        CHECK(session::parse_reason(std::string(session::reason_name(r)) + ": detail") == r);
    }
    CHECK(session::parse_reason("duplicate session (tie-break)") == CloseReason::duplicate);  // older peers
    CHECK(session::parse_reason("something else") == CloseReason::other);
    CHECK(session::parse_reason("") == CloseReason::other);
    CHECK(session::deliberate({CloseReason::idle, true, {}}));
    CHECK(session::deliberate({CloseReason::disconnect, false, {}}));
    CHECK_FALSE(session::deliberate({CloseReason::disconnect, true, {}}));
    CHECK(session::deliberate({CloseReason::shutdown, false, {}}));
    CHECK_FALSE(session::deliberate({CloseReason::shutdown, true, {}}));
    CHECK_FALSE(session::deliberate({CloseReason::peer_silent, false, {}}));
    CHECK(session::Closed{CloseReason::idle, true, {}}.to_string() == "peer closed: idle");
}

TEST_CASE("session table: messages in flight on a UDP session that TCP replaces go again over TCP") {
    Net net;
    Side a{net, vectors::alice(), 1}, b{net, vectors::bob(), 2};
    auto [la, lb] = dial(net, a, b, Path::udp, Method::punch);
    REQUIRE(net.run_until([&] { return a.table->connected(b.pk()) && b.table->connected(a.pk()); }, 1s));
    // b's end of the UDP path goes deaf: what a sends there is never acknowledged.
    b.closed_links.insert(lb);
    for (int i = 0; i < 5; ++i) REQUIRE(a.table->send(b.pk(), bytes("m" + std::to_string(i)), net.now).ok());
    net.run_for(50ms);
    CHECK(b.got.empty());
    dial(net, b, a, Path::tcp, Method::simultaneous_open);
    REQUIRE(net.run_until([&] { return b.got.size() == 5; }, 2s));
    CHECK(b.got == std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"});
    CHECK(a.table->live_link(b.pk())->path == Path::tcp);
}
