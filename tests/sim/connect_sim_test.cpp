// session::Connector and session::SessionTable between peers behind simulated NATs of every kind
// (tests/support/sim_nat.hpp), under virtual time: the offer and answer through a rendezvous
// node, candidate selection (LAN first, the peer's public endpoints, peer-reflexive learning),
// authenticated probes under their rate cap, and a datagram session on the punched path carrying
// reliable messages. TCP is not simulated beyond a plain dial to a public node: the lab's real
// NATs (tests/nat/) cover TCP simultaneous open. A failing run prints SIM_SEED=N.
#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "session/connector.hpp"
#include "session/session_table.hpp"
#include "sim_nat.hpp"

using namespace std::chrono_literals;
using session::LinkId;
using sim::NatKind;

namespace {

uint64_t seed() {
    const char* s = std::getenv("SIM_SEED");
    return s ? std::strtoull(s, nullptr, 10) : 7;
}

struct Net;

// One peer: its table and connector, joined to the simulated network.
struct Peer final : session::LinkIo, session::SessionEvents, session::ConnectorIo {
    Net& net;
    std::string name;
    crypto::Identity id;
    crypto::SessionKeys keys{id};
    base::SeededRng rng;
    base::CaptureLogger log{base::Level::debug};
    sim::SimNat* nat = nullptr;  // null: a public host
    base::Endpoint addr;         // its own address (private behind a NAT)
    std::unique_ptr<session::SessionTable> table;
    std::unique_ptr<session::Connector> conn;
    using Path = std::pair<session::SocketId, base::Endpoint>;  // (our socket, remote)
    std::map<LinkId, Path> udp;
    std::map<Path, LinkId> udp_by_ep;
    // Extra sockets (birthday attempts): socket s listens on port kExtraPort + s of our address.
    static constexpr uint16_t kExtraPort = 50000;
    std::set<session::SocketId> socks, released;
    session::SocketId next_sock = 1;
    size_t socks_peak = 0;
    struct Stream {
        Peer* other;
        LinkId other_link;
    };
    std::map<LinkId, Stream> tcp;
    std::vector<std::string> got;
    std::vector<session::LinkInfo> ups;
    std::vector<std::string> unreachable_why;
    std::vector<base::TimePoint> probe_times;

    Peer(Net& n, std::string nm, uint64_t s, sim::SimNat* behind, base::Endpoint a);
    const crypto::PublicKey& pk() const { return id.public_key; }
    void receive(const base::Endpoint& from, const std::vector<uint8_t>& d, session::SocketId at);
    base::Endpoint local(session::SocketId s) const {
        base::Endpoint e = addr;
        if (s != 0) e.port = static_cast<uint16_t>(kExtraPort + s);
        return e;
    }
    bool in_use(session::SocketId s) const {
        for (auto& [l, path] : udp)
            if (path.first == s) return true;
        return false;
    }

    // session::LinkIo
    void write(LinkId link, std::vector<uint8_t>&& bytes) override;
    void send_datagram(LinkId link, std::span<const uint8_t> d) override;
    size_t queued(LinkId) const override { return 0; }
    void close(LinkId link) override {
        if (auto it = udp.find(link); it != udp.end()) {
            auto sock = it->second.first;
            udp_by_ep.erase(it->second);
            udp.erase(it);
            if (released.count(sock) && !in_use(sock)) socks.erase(sock);
        }
        tcp.erase(link);
    }
    // session::SessionEvents
    void on_established(const crypto::PublicKey& p, const session::LinkInfo& l) override;
    void on_data(const crypto::PublicKey&, std::span<const uint8_t> b) override { got.emplace_back(b.begin(), b.end()); }
    void on_closed(const crypto::PublicKey& p, const session::Closed& why) override;
    void on_writable(const crypto::PublicKey&) override {}
    void on_attempt_failed(const crypto::PublicKey& p, LinkId l, const session::Closed& why) override;
    // session::ConnectorIo
    bool can_look_up() override { return true; }
    void look_up(const crypto::PublicKey& peer) override;
    LinkId dial(const crypto::PublicKey& peer, const base::Endpoint& to, session::Method m, bool simultaneous) override;
    void cancel(LinkId) override {}
    bool connected(const crypto::PublicKey& peer) override { return table->connected(peer); }
    void attempting(const crypto::PublicKey&) override {}
    void unreachable(const crypto::PublicKey&, const std::string& why) override { unreachable_why.push_back(why); }
    std::vector<session::Candidate> own_candidates() override;
    void send_offer(const crypto::PublicKey& peer, const session::Rendezvous& via, const std::string& offer) override;
    void send_probe(const base::Endpoint& to, std::span<const uint8_t> p, session::SocketId from) override;
    LinkId open_datagram(const crypto::PublicKey& peer, const base::Endpoint& to, session::Method m,
                         session::SocketId from) override;
    session::NatInfo own_nat() override;
    session::SocketId open_socket(base::Duration) override {
        session::SocketId s = next_sock++;
        socks.insert(s);
        socks_peak = std::max(socks_peak, socks.size());
        return s;
    }
    void close_socket(session::SocketId s) override {
        released.insert(s);
        if (!in_use(s)) socks.erase(s);
    }
};

struct Net {
    base::TimePoint now = base::TimePoint{} + 1000h;
    base::SeededRng rng{seed()};
    base::Duration latency = 20ms;  // one way, between any two hosts
    std::multimap<base::TimePoint, std::function<void()>> events;
    std::vector<std::unique_ptr<sim::SimNat>> nats;
    std::vector<std::unique_ptr<Peer>> peers;
    const base::Endpoint rendezvous = base::Endpoint::v4(203, 0, 113, 200, 44544);  // keeps every presence
    LinkId next_link = 1;
    uint64_t dropped = 0;

    void at(base::Duration after, std::function<void()> fn) { events.emplace(now + after, std::move(fn)); }
    sim::SimNat* add_nat(NatKind k) {
        auto ip = base::Endpoint::v4(198, 51, 100, static_cast<uint8_t>(nats.size() + 1), 0);
        nats.push_back(std::make_unique<sim::SimNat>(k, ip, rng));
        return nats.back().get();
    }
    Peer& add(const std::string& name, sim::SimNat* nat) {
        uint8_t n = static_cast<uint8_t>(peers.size() + 1);
        base::Endpoint a = nat && nat->kind() != NatKind::firewall ? base::Endpoint::v4(10, 0, 0, n, 44544)
                                                                   : base::Endpoint::v4(192, 0, 2, n, 44544);
        peers.push_back(std::make_unique<Peer>(*this, name, seed() * 100 + n, nat, a));
        return *peers.back();
    }
    // Where `p`'s datagrams from its socket `s` to `to` appear to come from (creating the NAT's
    // state for them).
    base::Endpoint source(Peer& p, const base::Endpoint& to, session::SocketId s = 0) {
        bool lan = p.nat && to.addr[0] == 10;
        return p.nat && !lan ? p.nat->outbound(p.local(s), to, now) : p.local(s);
    }
    // A datagram from `from`'s socket `s` to `to`, through both NATs.
    void send(Peer& from, const base::Endpoint& to, std::span<const uint8_t> d, session::SocketId s = 0) {
        if (s != 0 && !from.socks.count(s)) return;  // closed
        base::Endpoint src = source(from, to, s);
        Peer* dst = nullptr;
        base::Endpoint dst_ep = to;
        for (auto& n : nats) {
            if (to.is_v6() || n->public_ip().addr != to.addr || n->kind() == NatKind::firewall) continue;
            auto inside = n->inbound(src, to.port, now);
            if (!inside) {
                ++dropped;
                return;
            }
            for (auto& p : peers)
                if (p->nat == n.get() && p->addr.addr == inside->addr) {
                    dst = p.get();
                    dst_ep = *inside;
                }
        }
        if (!dst)
            for (auto& p : peers)
                if (p->addr.addr == to.addr) {
                    // A private address is reached only from the same LAN.
                    if (to.addr[0] == 10 && from.nat != p->nat) return;
                    if (p->nat && p->nat->kind() == NatKind::firewall && from.nat != p->nat &&
                        !p->nat->firewall_admits(to.port, src, now)) {
                        ++dropped;
                        return;
                    }
                    dst = p.get();
                }
        if (!dst) return;
        // Which of its sockets: the main one, an open extra one, or none (dropped).
        session::SocketId sock = 0;
        if (dst_ep.port != dst->addr.port) {
            sock = static_cast<session::SocketId>(dst_ep.port - Peer::kExtraPort);
            if (dst_ep.port <= Peer::kExtraPort || !dst->socks.count(sock)) return;
        }
        at(latency, [dst, src, sock, b = std::vector<uint8_t>(d.begin(), d.end())] { dst->receive(src, b, sock); });
    }
    // The presence each NATed peer keeps at the rendezvous node: a live mapping towards it.
    base::Endpoint presence(Peer& p) { return source(p, rendezvous); }

    bool run_until(const std::function<bool()>& pred, base::Duration limit) {
        auto end = now + limit;
        for (;;) {
            if (pred()) return true;
            base::TimePoint next = end;
            for (auto& p : peers) {
                next = std::min(next, p->table->tick(now));
                next = std::min(next, p->conn->tick(now));
            }
            if (!events.empty()) next = std::min(next, events.begin()->first);
            if (next > now) now = std::min(next, end);
            while (!events.empty() && events.begin()->first <= now) {
                auto fn = std::move(events.begin()->second);
                events.erase(events.begin());
                fn();
            }
            for (auto& p : peers) {
                p->table->tick(now);
                p->conn->tick(now);
            }
            if (now >= end) return pred();
        }
    }
};

crypto::Identity identity_from(uint64_t s) {
    base::SeededRng r{s};
    return crypto::Identity::from_rng(r);
}

Peer::Peer(Net& n, std::string nm, uint64_t s, sim::SimNat* behind, base::Endpoint a)
    : net{n}, name{std::move(nm)}, id{identity_from(s)}, rng{s + 1}, nat{behind}, addr{a} {
    table = std::make_unique<session::SessionTable>(keys, rng, log, *this, *this, session::TableConfig{}, n.now,
                                                    1'800'000'000'000);
    conn = std::make_unique<session::Connector>(*this, id, rng, log, session::ConnectorConfig{}, n.now,
                                                1'800'000'000'000);
}

void Peer::receive(const base::Endpoint& from, const std::vector<uint8_t>& d, session::SocketId at) {
    if (d.empty()) return;
    if (at != 0 && !socks.count(at)) return;  // closed while the datagram was on its way
    if (d[0] == session::kProbeType) {
        probe_times.push_back(net.now);  // (arrivals; sends are counted by the connector)
        return conn->on_probe(from, d, net.now, at);
    }
    auto it = udp_by_ep.find({at, from});
    LinkId link;
    if (it != udp_by_ep.end()) {
        link = it->second;
    } else {
        if (d[0] != 1) return;
        link = net.next_link++;
        udp[link] = {at, from};
        udp_by_ep[{at, from}] = link;
        auto method = at != 0 ? session::Method::birthday
                      : from.is_private() ? session::Method::lan : session::Method::punch;  // as SessionHost
        if (!table->open_inbound(link, session::Path::udp, from, method, net.now)) return;
    }
    table->on_bytes(link, d, net.now);
}

void Peer::write(LinkId link, std::vector<uint8_t>&& bytes) {
    auto it = tcp.find(link);
    if (it == tcp.end()) return;
    Stream s = it->second;
    net.at(net.latency, [s, b = std::move(bytes), this] {
        if (s.other->tcp.count(s.other_link)) s.other->table->on_bytes(s.other_link, b, net.now);
    });
}

void Peer::send_datagram(LinkId link, std::span<const uint8_t> d) {
    REQUIRE(d.size() <= session::kMaxDatagram);
    if (auto it = udp.find(link); it != udp.end()) net.send(*this, it->second.second, d, it->second.first);
}

void Peer::on_established(const crypto::PublicKey& p, const session::LinkInfo& l) {
    ups.push_back(l);
    conn->on_session_up(p, l, net.now);
}
void Peer::on_closed(const crypto::PublicKey& p, const session::Closed& why) { conn->on_session_closed(p, why, net.now); }
void Peer::on_attempt_failed(const crypto::PublicKey& p, LinkId l, const session::Closed& why) {
    conn->on_attempt_failed(p, l, why, net.now);
}

// A public peer answers its lookup; a NATed one is found at the rendezvous node.
void Peer::look_up(const crypto::PublicKey& peer) {
    for (auto& p : net.peers) {
        if (p->pk() != peer) continue;
        session::PeerLookup r;
        r.messages = 6;
        r.answered = 6;
        if (!p->nat) {
            r.found = true;
            r.endpoint = p->addr;
        } else {
            r.rendezvous.push_back({crypto::PublicKey{}, net.rendezvous});
            r.here = net.presence(*p);
        }
        net.at(4 * net.latency, [this, peer, r] { conn->on_lookup(peer, r, net.now); });
    }
}

// TCP is simulated only as a plain dial to a public host (the peer listens; its answer comes back).
LinkId Peer::dial(const crypto::PublicKey& peer, const base::Endpoint& to, session::Method m, bool simultaneous) {
    if (simultaneous) return 0;
    for (auto& p : net.peers) {
        if (p->addr != to || p->nat || p->pk() != peer) continue;
        LinkId mine = net.next_link++, theirs = net.next_link++;
        tcp[mine] = {p.get(), theirs};
        p->tcp[theirs] = {this, mine};
        Peer* other = p.get();
        net.at(net.latency, [=, this] {
            other->table->open_inbound(theirs, session::Path::tcp, addr, session::Method::accept, net.now);
            REQUIRE(table->open_outbound(mine, session::Path::tcp, peer, to, m, net.now).ok());
        });
        return mine;
    }
    return 0;
}

std::vector<session::Candidate> Peer::own_candidates() {
    std::vector<session::Candidate> out{{session::Candidate::Kind::lan, addr}};
    if (nat && nat->kind() != NatKind::firewall)
        out.push_back({session::Candidate::Kind::reflexive, net.presence(*this)});
    return out;
}

// The rendezvous node: the offer goes up to it through our NAT, down to the peer over the
// mapping its presence keeps open, and the answer back the same way.
void Peer::send_offer(const crypto::PublicKey& peer, const session::Rendezvous&, const std::string& offer) {
    base::Endpoint seen_us = net.presence(*this);
    for (auto& p : net.peers) {
        if (p->pk() != peer) continue;
        Peer* them = p.get();
        // The rendezvous node on the way between them: the offer and the answer each take one
        // path latency, as they would through a public node in the lab.
        net.at(net.latency, [=, this] {
            base::Endpoint seen_them = net.presence(*them);
            auto answer = them->conn->on_offer(pk(), seen_us, offer, net.now);
            net.at(net.latency, [=, this] {
                session::OfferReply r;
                r.ok = answer.has_value();
                if (answer) r.answer = *answer;
                r.peer_seen = seen_them;
                conn->on_offer_reply(peer, r, net.now);
            });
        });
    }
}

void Peer::send_probe(const base::Endpoint& to, std::span<const uint8_t> p, session::SocketId from) {
    net.send(*this, to, p, from);
}

// What dht::NatAnalysis finds behind each kind (the lab's natprobe checks the same).
session::NatInfo Peer::own_nat() {
    using M = session::NatMapping;
    if (!nat) return {M::none, false};
    switch (nat->kind()) {
        case NatKind::full_cone: return {M::independent, false};
        case NatKind::restricted:
        case NatKind::port_restricted: return {M::independent, true};
        case NatKind::symmetric: return {M::dependent, true};
        case NatKind::firewall: return {M::none, true};
    }
    return {};
}

LinkId Peer::open_datagram(const crypto::PublicKey& peer, const base::Endpoint& to, session::Method m,
                           session::SocketId from) {
    if (auto it = udp_by_ep.find({from, to}); it != udp_by_ep.end()) {
        table->set_method(it->second, m);
        return 0;
    }
    if (from != 0 && !socks.count(from)) return 0;
    LinkId link = net.next_link++;
    udp[link] = {from, to};
    udp_by_ep[{from, to}] = link;
    REQUIRE(table->open_outbound(link, session::Path::udp, peer, to, m, net.now, true).ok());
    return link;
}

// Every pair but two symmetric NATs: symmetric against port-restricted or a firewall takes a
// birthday attempt.
bool punchable(const std::string& a, const std::string& b) { return !(a == "symmetric" && b == "symmetric"); }

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("connect sim: every pair of NAT kinds, both ways: direct where a NAT lets it, a clear failure where not") {
    INFO("SIM_SEED=" << seed());
    const std::vector<std::optional<NatKind>> kinds = {std::nullopt, NatKind::full_cone, NatKind::restricted,
                                                       NatKind::port_restricted, NatKind::symmetric, NatKind::firewall};
    auto name = [](const std::optional<NatKind>& k) { return k ? std::string(sim::nat_kind_name(*k)) : std::string("none"); };
    size_t direct = 0, failed = 0;
    for (auto& ka : kinds) {
        for (auto& kb : kinds) {
            std::string na = name(ka), nb = name(kb);
            CAPTURE(na);
            CAPTURE(nb);
            Net net;
            Peer& a = net.add("a", ka ? net.add_nat(*ka) : nullptr);
            Peer& b = net.add("b", kb ? net.add_nat(*kb) : nullptr);
            std::optional<session::ConnectReport> rep;
            a.conn->connect(b.pk(), std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, net.now);
            REQUIRE(net.run_until([&] { return rep.has_value(); }, 40s));
            bool want = punchable(na, nb);
            INFO(rep->status.detail());
            CHECK(rep->status.ok() == want);
            if (!rep->status.ok()) {
                ++failed;
                CHECK(rep->status.detail().find("no direct path") != std::string::npos);
                CHECK(a.unreachable_why.size() == 1);
                continue;
            }
            ++direct;
            REQUIRE(rep->link);
            // A public peer is dialled (TCP here) and punched: either may win; anyone else is
            // punched (UDP in this simulation).
            if (kb) CHECK(rep->link->path == session::Path::udp);
            REQUIRE(net.run_until([&] { return b.table->connected(a.pk()); }, 5s));
            // Let a better path replace the first one (a TCP dial to a public peer); both ends
            // then agree on the path. (A raw payload sent while the UDP session is replaced would
            // be lost with it; the chat layer resends on the new path.)
            net.run_until([] { return false; }, 1s);
            REQUIRE(a.table->live_link(b.pk()));
            REQUIRE(b.table->live_link(a.pk()));
            CHECK(a.table->live_link(b.pk())->path == b.table->live_link(a.pk())->path);
            REQUIRE(a.table->send(b.pk(), bytes("hello from " + na), net.now).ok());
            REQUIRE(b.table->send(a.pk(), bytes("hello from " + nb), net.now).ok());
            REQUIRE(net.run_until([&] { return !a.got.empty() && !b.got.empty(); }, 5s));
            CHECK(b.got[0] == "hello from " + na);
        }
    }
    CHECK(direct == 35);  // of 36 ordered pairs: only symmetric with symmetric cannot be punched
    CHECK(failed == 1);
}

TEST_CASE("connect sim: two peers behind one NAT reach each other over the LAN, not through the NAT") {
    INFO("SIM_SEED=" << seed());
    Net net;
    auto* home = net.add_nat(NatKind::port_restricted);
    Peer& a = net.add("a", home);
    Peer& b = net.add("b", home);
    std::optional<session::ConnectReport> rep;
    a.conn->connect(b.pk(), std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, net.now);
    REQUIRE(net.run_until([&] { return rep.has_value(); }, 20s));
    REQUIRE(rep->status.ok());
    CHECK(rep->link->method == session::Method::lan);
    CHECK(rep->link->remote == b.addr);
    // Its reflexive candidate was the same NAT's address: not tried (no hairpin).
    for (auto& t : rep->tried) CHECK(t.to.addr[0] != 198);
}

TEST_CASE("connect sim: a symmetric NAT's real port is learnt from its probes (peer-reflexive)") {
    INFO("SIM_SEED=" << seed());
    Net net;
    Peer& a = net.add("a", net.add_nat(NatKind::symmetric));
    Peer& b = net.add("b", net.add_nat(NatKind::full_cone));
    std::optional<session::ConnectReport> rep;
    a.conn->connect(b.pk(), std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, net.now);
    REQUIRE(net.run_until([&] { return rep.has_value(); }, 20s));
    REQUIRE(rep->status.ok());
    // b's session with a runs to an endpoint that a never offered: its NAT's mapping towards b.
    auto lb = b.table->live_link(a.pk());
    REQUIRE(lb);
    bool offered = false;
    for (auto& c : rep->ours) offered |= c.endpoint == lb->remote;
    CHECK_FALSE(offered);
    CHECK(lb->remote.addr[0] == 198);
}

TEST_CASE("connect sim: probes stay under the node's rate cap and the attempt's budget") {
    INFO("SIM_SEED=" << seed());
    Net net;
    Peer& a = net.add("a", net.add_nat(NatKind::symmetric));
    std::vector<Peer*> targets;
    for (int i = 0; i < 4; ++i) targets.push_back(&net.add("t" + std::to_string(i), net.add_nat(NatKind::symmetric)));
    // Four unreachable peers at once, each with a few candidates: far more probes wanted than allowed.
    std::vector<std::optional<session::ConnectReport>> reps(targets.size());
    for (size_t i = 0; i < targets.size(); ++i)
        a.conn->connect(targets[i]->pk(), std::nullopt, [&, i](const session::ConnectReport& r) { reps[i] = r; },
                        net.now);
    // Count a's probes per 1-second window.
    auto before = a.conn->stats().probes_sent;
    base::TimePoint t0 = net.now;
    std::map<int64_t, uint64_t> per_second;
    uint64_t last = before;
    while (net.now < t0 + 12s) {
        net.run_until([] { return false; }, 100ms);
        per_second[base::to_ms_int(net.now - t0) / 1000] += a.conn->stats().probes_sent - last;
        last = a.conn->stats().probes_sent;
    }
    uint64_t peak = 0;
    for (auto& [s, n] : per_second) peak = std::max(peak, n);
    CHECK(peak <= 50 + 10);  // probe_rate, plus the burst
    CHECK(a.conn->stats().probes_capped > 0);  // the cap did bite
    for (auto& r : reps) {
        REQUIRE(r);
        CHECK_FALSE(r->status.ok());
        CHECK(r->probes <= session::ConnectorConfig{}.max_probes_per_attempt);
    }
}

TEST_CASE("connect sim: time from the first offer to a session up, in round trips of the path") {
    INFO("SIM_SEED=" << seed());
    for (auto [ka, kb] : std::vector<std::pair<NatKind, NatKind>>{{NatKind::port_restricted, NatKind::port_restricted},
                                                                  {NatKind::full_cone, NatKind::symmetric},
                                                                  {NatKind::restricted, NatKind::firewall}}) {
        const std::string na = sim::nat_kind_name(ka), nb = sim::nat_kind_name(kb);  // (doctest prints a char* as a pointer)
        CAPTURE(na);
        CAPTURE(nb);
        Net net;
        Peer& a = net.add("a", net.add_nat(ka));
        Peer& b = net.add("b", net.add_nat(kb));
        std::optional<session::ConnectReport> rep;
        a.conn->connect(b.pk(), std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, net.now);
        REQUIRE(net.run_until([&] { return rep.has_value(); }, 20s));
        REQUIRE(rep->status.ok());
        // RTT = 2 × latency. From the lookup's end (the offer leaving) to a's session up. Waiting for
        // the answer, then probing, then the handshake would take 3. Here it takes 1: the offer
        // reaches b in one path latency (the rendezvous sits on the way, as a public node does in
        // the lab); a's handshake to b's presence endpoint left with the offer and opened a's NAT,
        // so b's handshake, sent when the offer arrives, gets through and a answers it.
        double rtts = base::to_ms(rep->total - rep->lookup) / base::to_ms(2 * net.latency);
        MESSAGE(na << " x " << nb << ": " << rtts
                                       << " RTT from the offer (rendezvous " << base::to_ms(rep->rendezvous) << " ms)");
        CHECK(rtts <= 3.0);
    }
}

// The birthday attempt (PROTOCOL.md §16.9), over many seeds: how often it finds a path, how soon,
// at what cost in packets, within its rate, and that the extra sockets are all given back but the
// one the session runs on. Without it (birthday_sockets = 0) the same pairs never connect.
TEST_CASE("connect sim: birthday punching joins a symmetric NAT and a port-restricted NAT or a firewall") {
    struct Case {
        NatKind a, b;
    };
    const std::vector<Case> cases = {{NatKind::symmetric, NatKind::port_restricted},
                                     {NatKind::port_restricted, NatKind::symmetric},
                                     {NatKind::symmetric, NatKind::firewall},
                                     {NatKind::firewall, NatKind::symmetric}};
    for (bool on : {true, false}) {
        size_t tries = 0, ok = 0;
        std::vector<double> secs;
        uint64_t max_packets = 0;
        for (auto& c : cases) {
            const std::string na = sim::nat_kind_name(c.a), nb = sim::nat_kind_name(c.b);
            CAPTURE(na);
            CAPTURE(nb);
            for (uint64_t run = 0; run < (on ? 10u : 1u); ++run) {
                CAPTURE(run);
                Net net;
                net.rng = base::SeededRng{seed() * 1000 + run};
                Peer& a = net.add("a", net.add_nat(c.a));
                Peer& b = net.add("b", net.add_nat(c.b));
                if (!on) {
                    session::ConnectorConfig off;
                    off.birthday_sockets = 0;
                    for (Peer* p : {&a, &b})
                        p->conn = std::make_unique<session::Connector>(*p, p->id, p->rng, p->log, off, net.now,
                                                                       1'800'000'000'000);
                }
                std::optional<session::ConnectReport> rep;
                a.conn->connect(b.pk(), std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, net.now);
                // Count each side's birthday packets per second while the attempt runs.
                std::map<int64_t, uint64_t> per_second;
                uint64_t last_a = 0, last_b = 0;
                base::TimePoint t0 = net.now;
                while (!rep && net.now < t0 + 40s) {
                    net.run_until([&] { return rep.has_value(); }, 100ms);
                    auto na_ = a.conn->stats().birthday_packets, nb_ = b.conn->stats().birthday_packets;
                    int64_t sec = base::to_ms_int(net.now - t0 - 1ms) / 1000;
                    per_second[2 * sec] += na_ - last_a;
                    per_second[2 * sec + 1] += nb_ - last_b;
                    last_a = na_;
                    last_b = nb_;
                }
                REQUIRE(rep);
                ++tries;
                if (!on) {
                    CHECK_FALSE(rep->status.ok());
                    CHECK(a.conn->stats().birthdays == 0);
                    continue;
                }
                uint64_t peak = 0;
                for (auto& [sec, n] : per_second) peak = std::max(peak, n);
                CHECK(peak <= 100 + 1);  // each side at birthday_rate
                CHECK(a.conn->stats().birthdays == 1);
                CHECK(b.conn->stats().birthdays == 1);
                Peer& hard = c.a == NatKind::symmetric ? a : b;
                Peer& easy = c.a == NatKind::symmetric ? b : a;
                CHECK(hard.socks_peak <= 256);
                CHECK(easy.socks_peak == 0);
                CHECK(hard.conn->stats().birthday_packets <= 2000);
                CHECK(easy.conn->stats().birthday_packets <= 2000);
                max_packets = std::max({max_packets, hard.conn->stats().birthday_packets,
                                        easy.conn->stats().birthday_packets});
                if (!rep->status.ok()) continue;
                ++ok;
                secs.push_back(std::chrono::duration<double>(rep->total).count());
                REQUIRE(rep->link);
                CHECK(rep->link->path == session::Path::udp);
                REQUIRE(net.run_until([&] { return b.table->connected(a.pk()); }, 5s));
                // The hard side's session runs on one of its extra sockets: that one stays, the
                // rest are closed.
                auto lh = hard.table->live_link(easy.pk());
                REQUIRE(lh);
                CHECK(lh->method == session::Method::birthday);
                CHECK(hard.socks.size() == 1);
                // Messages go both ways on it.
                REQUIRE(a.table->send(b.pk(), bytes("over the birthday path"), net.now).ok());
                REQUIRE(b.table->send(a.pk(), bytes("and back"), net.now).ok());
                REQUIRE(net.run_until([&] { return !a.got.empty() && !b.got.empty(); }, 5s));
                CHECK(b.got[0] == "over the birthday path");
                // When the session ends, the last socket goes too.
                a.table->disconnect(b.pk(), {session::CloseReason::disconnect, false, "test"}, net.now);
                net.run_until([] { return false; }, 3s);
                CHECK(hard.socks.empty());
            }
        }
        if (on) {
            std::sort(secs.begin(), secs.end());
            double p50 = secs.empty() ? 0 : secs[secs.size() / 2], worst = secs.empty() ? 0 : secs.back();
            MESSAGE("birthday: " << ok << "/" << tries << " connected; time to session p50 " << p50 << " s, max "
                                 << worst << " s; at most " << max_packets << " packets per side");
            CHECK(ok * 100 >= tries * 95);
            CHECK(worst <= 20.0 + 2.0);
        }
    }
}

// One birthday attempt per node at a time, and never one side alone: a hard node busy with one
// peer answers a second peer's offer with "not now", and the second peer sends nothing.
TEST_CASE("connect sim: a node busy with a birthday attempt does not start another, nor does its peer alone") {
    INFO("SIM_SEED=" << seed());
    Net net;
    Peer& hard = net.add("hard", net.add_nat(NatKind::symmetric));
    Peer& e1 = net.add("e1", net.add_nat(NatKind::port_restricted));
    Peer& e2 = net.add("e2", net.add_nat(NatKind::firewall));
    std::optional<session::ConnectReport> r1, r2;
    e1.conn->connect(hard.pk(), std::nullopt, [&](const session::ConnectReport& r) { r1 = r; }, net.now);
    net.run_until([] { return false; }, 1500ms);  // the first attempt is under way
    REQUIRE(hard.conn->stats().birthdays == 1);
    e2.conn->connect(hard.pk(), std::nullopt, [&](const session::ConnectReport& r) { r2 = r; }, net.now);
    REQUIRE(net.run_until([&] { return r1 && r2; }, 40s));
    CHECK(r1->status.ok());
    CHECK(hard.conn->stats().birthdays == 1);
    CHECK(e2.conn->stats().birthdays == 0);
    CHECK(e2.conn->stats().birthday_packets == 0);
    CHECK_FALSE(r2->status.ok());  // (no relay in this simulation)
    // 20 s after the first ended, the second peer's next attempt gets its birthday.
    net.run_until([] { return false; }, 21s);
    std::optional<session::ConnectReport> r3;
    e2.conn->connect(hard.pk(), std::nullopt, [&](const session::ConnectReport& r) { r3 = r; }, net.now);
    REQUIRE(net.run_until([&] { return r3.has_value(); }, 40s));
    CHECK(r3->status.ok());
    CHECK(e2.conn->stats().birthdays == 1);
}

TEST_CASE("connect sim: a peer that moves to another network is reached again, and what both sent meanwhile arrives once") {
    INFO("SIM_SEED=" << seed());
    Net net;
    auto* home = net.add_nat(NatKind::port_restricted);
    auto* cafe = net.add_nat(NatKind::full_cone);
    auto* far = net.add_nat(NatKind::port_restricted);
    Peer& a = net.add("a", home);
    Peer& b = net.add("b", far);
    std::optional<session::ConnectReport> rep;
    a.conn->connect(b.pk(), std::nullopt, [&](const session::ConnectReport& r) { rep = r; }, net.now);
    REQUIRE(net.run_until([&] { return rep.has_value() && b.table->connected(a.pk()); }, 20s));
    REQUIRE(rep->status.ok());
    net.run_until([] { return false; }, 10s);
    // a moves: another address behind another NAT. What SessionHost::network_changed does next.
    a.nat = cafe;
    a.addr = base::Endpoint::v4(10, 0, 0, 9, 44544);
    auto t0 = net.now;
    std::vector<crypto::PublicKey> had;
    for (auto& p : a.table->peers(net.now)) had.push_back(p.peer);
    REQUIRE(had.size() == 1);
    a.table->close_all({session::CloseReason::link_failed, false, "our network changed"}, net.now);
    a.conn->network_changed(net.now);
    for (auto& p : had) a.conn->connect(p, std::nullopt, [](const session::ConnectReport&) {}, net.now);
    // b still holds the old session (its keepalives have not failed) and sends over it at once.
    REQUIRE(b.table->connected(a.pk()));
    REQUIRE(b.table->send(a.pk(), bytes("from b, meanwhile"), net.now).ok());
    auto on_cafe = [&] {
        auto l = b.table->live_link(a.pk());
        return a.table->connected(b.pk()) && l && l->remote.addr == cafe->public_ip().addr;
    };
    REQUIRE(net.run_until(on_cafe, 30s));
    REQUIRE(a.table->send(b.pk(), bytes("from a, moved"), net.now).ok());
    auto count = [](const std::vector<std::string>& got, const std::string& m) { return std::count(got.begin(), got.end(), m); };
    REQUIRE(net.run_until([&] { return count(a.got, "from b, meanwhile") == 1 && count(b.got, "from a, moved") == 1; }, 30s));
    CHECK(net.now - t0 < 30s);
    net.run_until([] { return false; }, 10s);
    CHECK(count(a.got, "from b, meanwhile") == 1);  // once: not again from the dead session
    MESSAGE("moved: both messages through " << std::string{session::path_name(b.table->live_link(a.pk())->path)} << " after "
            << base::to_ms(net.now - t0 - 10s) << " ms");
}
