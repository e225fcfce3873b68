#include "cli/session_host.hpp"

#include <malloc.h>

#include <chrono>

namespace cli {

namespace {
uint64_t wall_ms_now() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}
}  // namespace

SessionHost::SessionHost(net::Loop& loop, net::LoopTurn& turn, const crypto::SessionKeys& keys, base::Rng& rng,
                         base::Logger& log, NodeHost* dht, SessionHostConfig cfg)
    : loop_{loop}, turn_{turn}, keys_{keys}, rng_{rng}, log_{log}, dht_{dht}, cfg_{cfg} {
    auto now = base::steady_now();
    table_ = std::make_unique<session::SessionTable>(keys_, rng_, log_, *this, *this, cfg_.table, now, wall_ms_now());
    connector_ = std::make_unique<session::Connector>(*this, keys_.identity, rng_, log_, cfg_.connector, now,
                                                      wall_ms_now());
}

SessionHost::~SessionHost() {
    on_message = nullptr;
    on_up = nullptr;
    on_down = nullptr;
    on_room = nullptr;
    on_attempt = nullptr;
    on_unreachable = nullptr;
    close_all();
}

base::Status SessionHost::start() {
    auto c = turn_.add([this](base::TimePoint now) { return tick(now); });
    if (!c) return c.status();
    core_ = std::move(*c);
    if (dht_ && dht_->started()) {
        dht_->node().set_offer_handler([this](const dht::NodeId& from, const base::Endpoint& seen,
                                              const std::string& offer, base::TimePoint now) {
            if (core_) core_->mark();
            return connector_->on_offer(from.bytes(), seen, offer, now);
        });
        dht_->on_other_datagram = [this](const base::Endpoint& from, std::span<const uint8_t> d) {
            return on_datagram(from, d, 0);
        };
        dht_->node().set_relay_handler([this](const dht::NodeId& from, const dht::NodeInfo& relay, uint64_t circuit,
                                              base::TimePoint now) { return accept_circuit(from, relay, circuit, now); });
    }
    return {};
}

// Session messages start with their type (1 to 4, PROTOCOL.md §12), probes with 0x05.
bool SessionHost::on_datagram(const base::Endpoint& from, std::span<const uint8_t> d, session::SocketId at) {
    if (closing_ || d.empty()) return false;
    if (core_) core_->mark();
    auto now = base::steady_now();
    if (d[0] == session::kProbeType) {
        connector_->on_probe(from, d, now, at);
        return true;
    }
    if (d[0] == dht::kRelayType && at == 0) return on_relay_datagram(from, d, now);
    if (d[0] < 1 || d[0] > 4) return false;
    auto it = udp_by_ep_.find({at, from});
    session::LinkId id;
    if (it != udp_by_ep_.end()) {
        id = it->second;
    } else {
        // Only an init opens a datagram link: a stray frame or answer is dropped.
        if (d[0] != 1) {
            ++datagrams_dropped_;
            return true;
        }
        id = next_link_++;
        udp_[id] = {at, from};
        udp_by_ep_[{at, from}] = id;
        // A path the peer opened: over a LAN if it comes from a private address, else punched
        // (on an extra socket: by a birthday attempt).
        auto method = at != 0 ? session::Method::birthday
                      : from.is_private() ? session::Method::lan : session::Method::punch;
        if (!table_->open_inbound(id, session::Path::udp, from, method, now)) return true;
    }
    table_->on_bytes(id, d, now);
    return true;
}

base::Status SessionHost::listen(const base::Endpoint& at) {
    auto l = net::TcpListener::listen(loop_, at, [this](std::unique_ptr<net::TcpConnection> c) { on_accept(std::move(c)); });
    if (!l) return l.status();
    KC_LOG(log_, info, "session", "accepting sessions on tcp %s", (*l)->local().to_string().c_str());
    listeners_.push_back(std::move(*l));
    return {};
}

std::vector<base::Endpoint> SessionHost::listening() const {
    std::vector<base::Endpoint> out;
    for (auto& l : listeners_) out.push_back(l->local());
    return out;
}

SessionHost::Tcp* SessionHost::find(session::LinkId id) {
    auto it = tcp_.find(id);
    return it == tcp_.end() ? nullptr : &it->second;
}

// ---- the application's side ----

base::Status SessionHost::send(const PublicKey& peer, std::span<const uint8_t> payload) {
    if (core_) core_->mark();
    return table_->send(peer, payload, base::steady_now());
}

void SessionHost::uncork() {
    if (core_) core_->mark();
    table_->uncork();
}

void SessionHost::disconnect(const PublicKey& peer, const std::string& detail) {
    if (core_) core_->mark();
    auto now = base::steady_now();
    connector_->release(peer, session::Want::user, now);
    table_->disconnect(peer, {session::CloseReason::disconnect, false, detail}, now);
}

void SessionHost::network_changed() {
    if (closing_) return;
    auto now = base::steady_now();
    std::vector<PublicKey> peers;
    for (auto& p : table_->peers(now)) peers.push_back(p.peer);
    table_->close_all({session::CloseReason::link_failed, false, "our network changed"}, now);
    connector_->network_changed(now);
    for (auto& p : peers) connector_->connect(p, std::nullopt, [](const session::ConnectReport&) {}, now);
    if (core_) core_->mark();
}

void SessionHost::close_all() {
    if (closing_) return;
    closing_ = true;
    auto now = base::steady_now();
    connector_->clear(now);
    table_->close_all({session::CloseReason::shutdown, false, "node stopping"}, now);
    for (auto& [id, t] : tcp_) graveyard_.push_back(std::move(t.conn));
    tcp_.clear();
    udp_.clear();
    udp_by_ep_.clear();
    for (auto& [id, e] : extra_) dead_sockets_.push_back(std::move(e.socket));
    extra_.clear();
    circuits_.clear();
    circuit_links_.clear();
    if (dht_ && dht_->started()) {
        dht_->node().set_offer_handler(nullptr);
        dht_->node().set_relay_handler(nullptr);
        dht_->on_other_datagram = nullptr;
    }
    listeners_.clear();
    graveyard_.clear();
    dead_sockets_.clear();
    core_.reset();
}

std::vector<session::SessionTable::PeerInfo> SessionHost::peers() const { return table_->peers(base::steady_now()); }

void SessionHost::connect(const PublicKey& peer, std::optional<base::Endpoint> via, session::ConnectDone done) {
    if (core_) core_->mark();
    connector_->connect(peer, via, std::move(done), base::steady_now());
}

void SessionHost::want(const PublicKey& peer, session::Want why) {
    if (core_) core_->mark();
    connector_->want(peer, why, base::steady_now());
}

void SessionHost::release(const PublicKey& peer, session::Want why) {
    connector_->release(peer, why, base::steady_now());
}

// ---- sockets ----

void SessionHost::on_accept(std::unique_ptr<net::TcpConnection> conn) {
    if (closing_) return;
    if (core_) core_->mark();
    session::LinkId id = next_link_++;
    base::Endpoint remote = conn->remote();
    tcp_[id].conn = std::move(conn);
    tcp_[id].method = session::Method::accept;
    wire(id);
    table_->open_inbound(id, session::Path::tcp, remote, session::Method::accept, base::steady_now());
}

void SessionHost::wire(session::LinkId id) {
    Tcp* t = find(id);
    if (!t) return;
    t->conn->start(
        [this, id](std::span<const uint8_t> b) {
            if (core_) core_->mark();
            table_->on_bytes(id, b, base::steady_now());
        },
        [this, id](const std::string& why) {
            if (core_) core_->mark();
            table_->on_link_down(id, why, base::steady_now());
        });
    t->conn->on_written = [this, id](std::vector<uint8_t>&& b) { table_->recycle(id, std::move(b)); };
    t->conn->on_drain = [this, id] {
        if (core_) core_->mark();
        table_->on_link_writable(id, true, base::steady_now());
    };
    t->conn->set_low_water(cfg_.low_water);
    t->conn->on_low = [this, id] {
        if (core_) core_->mark();
        table_->on_link_writable(id, false, base::steady_now());
    };
}

session::LinkId SessionHost::dial(const PublicKey& peer, const base::Endpoint& to, session::Method method,
                                  bool simultaneous) {
    if (closing_) return 0;
    if (core_) core_->mark();
    session::LinkId id = next_link_++;
    std::optional<base::Endpoint> from;
    if (simultaneous) {
        for (auto& l : listeners_)
            if (l->local().is_v6() == to.is_v6()) from = l->local();
        if (!from) return 0;
    }
    auto conn = net::TcpConnection::connect(loop_, to, [this, id](base::Status st) { on_connected(id, st); }, from);
    if (!conn) {
        ++connect_failures_;
        KC_LOG(log_, debug, "session", "cannot dial %s: %s", to.to_string().c_str(), conn.status().detail().c_str());
        return 0;
    }
    Tcp& t = tcp_[id];
    t.conn = std::move(*conn);
    t.peer = peer;
    t.method = method;
    t.connecting = true;
    t.simultaneous = simultaneous;
    t.deadline = base::steady_now() + cfg_.connect_timeout;
    return id;
}

void SessionHost::on_connected(session::LinkId id, base::Status st) {
    if (core_) core_->mark();
    Tcp* t = find(id);
    if (!t) return;
    auto now = base::steady_now();
    t->connecting = false;
    t->deadline = base::kNever;
    PublicKey peer = t->peer;
    if (!st.ok()) {
        ++connect_failures_;
        close(id);
        connector_->on_attempt_failed(peer, id, {session::CloseReason::link_failed, false, st.detail()}, now);
        return;
    }
    wire(id);
    auto open = table_->open_outbound(id, session::Path::tcp, peer, t->conn->remote(), t->method, now, t->simultaneous);
    if (!open.ok()) {
        close(id);
        connector_->on_attempt_failed(peer, id, {session::CloseReason::handshake_failed, false, open.detail()}, now);
    }
}

// Only a TCP connect still in progress is abandoned. A link whose handshake has begun is left to
// finish: the peer may already hold it as its live session, and the tie-break (which both ends
// apply alike) decides which of two sessions stays; a handshake that never ends times out.
void SessionHost::cancel(session::LinkId id) {
    Tcp* t = find(id);
    if (t && t->connecting) close(id);
    if (auto c = circuits_.find(id); c != circuits_.end() && c->second.id == 0) circuits_.erase(c);  // not asked yet
}

base::TimePoint SessionHost::tick(base::TimePoint now) {
    // Many connections gone (a flood of idle ones, say): hand their memory back to the system.
    // glibc keeps freed heap pages otherwise, and the node's RSS would stay at its peak. The trim
    // waits for a quiet half second: libuv frees a closed handle only in its close callback, a
    // loop turn later, and the session table drops its links later still, so a trim at once
    // would run before most of the memory is free.
    if (!graveyard_.empty()) {
        freed_ += graveyard_.size();
        trim_at_ = now + std::chrono::milliseconds(500);
    }
    graveyard_.clear();
    dead_sockets_.clear();
    if (now >= trim_at_) {
        if (freed_ >= 32) ::malloc_trim(0);
        freed_ = 0;
        trim_at_ = base::kNever;
    }
    base::TimePoint next = base::kNever;
    std::vector<std::pair<session::LinkId, PublicKey>> late;
    for (auto& [id, t] : tcp_) {
        if (!t.connecting) continue;
        if (now >= t.deadline)
            late.emplace_back(id, t.peer);
        else
            next = std::min(next, t.deadline);
    }
    for (auto& [id, peer] : late) {
        ++connect_failures_;
        close(id);
        connector_->on_attempt_failed(peer, id, {session::CloseReason::link_failed, false, "connect timed out"}, now);
    }
    next = std::min(next, table_->tick(now));
    next = std::min(next, connector_->tick(now));
    next = std::min(next, expire_sockets(now));
    if (!graveyard_.empty() || !dead_sockets_.empty()) next = now;
    return std::min(next, trim_at_);
}

// ---- session::LinkIo ----

void SessionHost::write(session::LinkId link, std::vector<uint8_t>&& bytes) {
    Tcp* t = find(link);
    if (t && t->conn && t->conn->connected()) t->conn->write(std::move(bytes));
}

void SessionHost::send_datagram(session::LinkId link, std::span<const uint8_t> datagram) {
    auto it = udp_.find(link);
    if (it != udp_.end()) return send_on(it->second.sock, it->second.to, datagram);
    auto c = circuits_.find(link);
    if (c != circuits_.end() && c->second.id != 0 && dht_)
        dht_->send(c->second.relay.endpoint, dht::relay_frame(dht::RelayKind::data, c->second.id, datagram));
}

size_t SessionHost::queued(session::LinkId link) const {
    auto it = tcp_.find(link);
    return it == tcp_.end() || !it->second.conn ? 0 : it->second.conn->queued_bytes();
}

void SessionHost::close(session::LinkId link) {
    if (circuits_.count(link)) return close_relay(link);
    if (auto u = udp_.find(link); u != udp_.end()) {
        auto sock = u->second.sock;
        udp_by_ep_.erase({sock, u->second.to});
        udp_.erase(u);
        if (sock != 0) retire_socket_if_unused(sock);
        return;
    }
    auto it = tcp_.find(link);
    if (it == tcp_.end()) return;
    graveyard_.push_back(std::move(it->second.conn));
    tcp_.erase(it);
    if (core_) core_->mark();
}

// ---- session::SessionEvents ----

void SessionHost::on_established(const PublicKey& peer, const session::LinkInfo& link) {
    connector_->on_session_up(peer, link, base::steady_now());
    if (on_up) on_up(peer, link);
}

void SessionHost::on_data(const PublicKey& peer, std::span<const uint8_t> payload) {
    if (on_message) on_message(peer, payload);
}

void SessionHost::on_closed(const PublicKey& peer, const session::Closed& why) {
    connector_->on_session_closed(peer, why, base::steady_now());
    if (on_down) on_down(peer, why);
}

void SessionHost::on_writable(const PublicKey& peer) {
    if (on_room) on_room(peer);
}

void SessionHost::on_attempt_failed(const PublicKey& peer, session::LinkId link, const session::Closed& why) {
    connector_->on_attempt_failed(peer, link, why, base::steady_now());
}

// ---- session::ConnectorIo ----

// A lookup needs someone to ask: while joining, wait for the first contact (the bootstrap node's
// answer), not for the whole join, whose self-lookup may be waiting out dead nodes' timeouts.
bool SessionHost::can_look_up() {
    if (!dht_ || !dht_->started()) return false;
    const dht::Node& n = dht_->peek();
    return n.join_state() != dht::Node::JoinState::joining || n.table().size() > 0;
}

void SessionHost::look_up(const PublicKey& peer) {
    if (!dht_) return;
    dht::NodeId target{peer};
    dht_->node().find_node(target, [this, peer, target](const dht::LookupResult& r) {
        if (core_) core_->mark();
        session::PeerLookup out;
        out.messages = r.messages;
        out.answered = r.closest.size();
        for (auto& n : r.closest)
            if (n.id == target) {
                out.found = true;
                out.endpoint = n.endpoint;
            }
        // We may keep the peer's presence ourselves (a lookup never asks itself).
        auto now = base::steady_now();
        if (dht_->peek().presence_of(target, now)) out.rendezvous.push_back({dht_->peek().id().bytes(), {}});
        for (auto& n : r.rendezvous)
            out.rendezvous.push_back({n.id.bytes(), n.endpoint,
                                      std::find(r.relays.begin(), r.relays.end(), n.id) != r.relays.end()});
        out.here = r.here;
        connector_->on_lookup(peer, out, now);
    }, base::steady_now());
}

std::vector<session::Candidate> SessionHost::own_candidates() {
    return candidates ? candidates() : std::vector<session::Candidate>{};
}

void SessionHost::send_offer(const PublicKey& peer, const session::Rendezvous& via, const std::string& offer) {
    if (!dht_) return;
    dht_->node().rendezvous({dht::NodeId{via.id}, via.endpoint}, dht::NodeId{peer}, offer,
                            [this, peer](const dht::RendezvousResult& r) {
        if (core_) core_->mark();
        session::OfferReply out;
        out.ok = r.ok;
        out.answer = r.answer;
        out.peer_seen = r.peer_seen;
        out.error = r.ok ? std::string{} : (r.error_code ? std::to_string(r.error_code) + " " : "") + r.error;
        connector_->on_offer_reply(peer, out, base::steady_now());
    }, base::steady_now());
}

void SessionHost::send_probe(const base::Endpoint& to, std::span<const uint8_t> probe, session::SocketId from) {
    send_on(from, to, probe);
}

session::LinkId SessionHost::open_datagram(const PublicKey& peer, const base::Endpoint& to, session::Method method,
                                           session::SocketId from) {
    if (closing_ || !dht_) return 0;
    if (from != 0 && !extra_.count(from)) return 0;
    if (auto it = udp_by_ep_.find({from, to}); it != udp_by_ep_.end()) {
        table_->set_method(it->second, method);  // the peer's init came first: that link is the one
        return 0;
    }
    if (core_) core_->mark();
    session::LinkId id = next_link_++;
    udp_[id] = {from, to};
    udp_by_ep_[{from, to}] = id;
    auto st = table_->open_outbound(id, session::Path::udp, peer, to, method, base::steady_now(), true);
    if (!st.ok()) {
        close(id);
        return 0;
    }
    return id;
}

void SessionHost::attempting(const PublicKey& peer) {
    if (on_attempt) on_attempt(peer);
}

void SessionHost::unreachable(const PublicKey& peer, const std::string& why) {
    if (on_unreachable) on_unreachable(peer, why);
}

}  // namespace cli
