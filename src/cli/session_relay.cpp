// The session host's relayed links (PROTOCOL.md §17): a circuit through a relay is a datagram
// link like a punched UDP path, except that its datagrams travel inside relay frames to the
// relay's endpoint. We open one when the connector asks (open_relay: the `relay` query, then a
// datagram session over the circuit), and accept one when a relay we reserved passes on a
// peer's request (accept_circuit: the peer's init will come through it).
#include <algorithm>

#include "base/hex.hpp"
#include "cli/session_host.hpp"

namespace cli {

namespace {
std::string short_id(const crypto::PublicKey& k) { return base::to_hex(std::span{k}.first(4)); }
}  // namespace

session::LinkId SessionHost::open_relay(const PublicKey& peer, const session::Rendezvous& via) {
    if (closing_ || !dht_ || !dht_->started()) return 0;
    if (core_) core_->mark();
    session::LinkId id = next_link_++;
    dht::NodeInfo relay{dht::NodeId{via.id}, via.endpoint};
    circuits_[id] = {peer, relay, 0};
    dht_->node().relay_open(relay, dht::NodeId{peer}, [this, id, peer](const dht::RelayOpenResult& r) {
        if (core_) core_->mark();
        auto now = base::steady_now();
        auto it = circuits_.find(id);
        if (it == circuits_.end()) return;  // the attempt ended meanwhile
        if (!r.ok) {
            std::string why = "relay " + it->second.relay.endpoint.to_string() + ": " +
                              (r.error_code ? std::to_string(r.error_code) + " " : "") + r.error;
            circuits_.erase(it);  // (after reading it: ASan caught a use after free here in the NAT lab)
            connector_->on_attempt_failed(peer, id, {session::CloseReason::link_failed, false, why}, now);
            return;
        }
        it->second.id = r.circuit;
        circuit_links_[{it->second.relay.endpoint, r.circuit}] = id;
        auto relay_ep = it->second.relay.endpoint;
        auto relay_id = it->second.relay.id.bytes();
        auto st = table_->open_outbound(id, session::Path::relay, peer, relay_ep, session::Method::relay, now, true);
        if (!st.ok()) {
            close(id);
            connector_->on_attempt_failed(peer, id, {session::CloseReason::refused, false, st.detail()}, now);
            return;
        }
        table_->set_via(id, relay_id);
    }, base::steady_now());
    return id;
}

bool SessionHost::accept_circuit(const dht::NodeId& from, const dht::NodeInfo& relay, uint64_t circuit,
                                 base::TimePoint now) {
    if (closing_ || circuit_links_.count({relay.endpoint, circuit})) return false;
    if (core_) core_->mark();
    session::LinkId id = next_link_++;
    circuits_[id] = {from.bytes(), relay, circuit, true};
    circuit_links_[{relay.endpoint, circuit}] = id;
    if (!table_->open_inbound(id, session::Path::relay, relay.endpoint, session::Method::relay, now)) return false;
    table_->set_via(id, relay.id.bytes());
    KC_LOG(log_, debug, "session", "circuit from %s through relay %s accepted", short_id(from.bytes()).c_str(),
           relay.endpoint.to_string().c_str());
    return true;
}

// A relay frame from `from`: false if it is not for a circuit of ours (then the DHT node may be
// relaying it).
bool SessionHost::on_relay_datagram(const base::Endpoint& from, std::span<const uint8_t> d, base::TimePoint now) {
    auto f = dht::parse_relay_frame(d);
    if (!f) return false;
    auto it = circuit_links_.find({from, f->circuit});
    if (it == circuit_links_.end()) return false;
    session::LinkId id = it->second;
    if (f->kind == dht::RelayKind::close) {
        std::string reason(f->payload.begin(), f->payload.end());
        reason.erase(std::remove_if(reason.begin(), reason.end(), [](char c) { return c < 0x20 || c > 0x7e; }),
                     reason.end());
        ++relay_closes_;
        KC_LOG(log_, info, "session", "relay %s closed our circuit: %s", from.to_string().c_str(), reason.c_str());
        // Forget the circuit first: the relay has, so no close frame goes back.
        circuits_[id].id = 0;
        circuit_links_.erase(it);
        table_->on_link_down(id, "the relay closed the circuit: " + reason, now);
        return true;
    }
    if (f->payload[0] < 1 || f->payload[0] > 4) {  // only session messages travel in circuits
        ++datagrams_dropped_;
        return true;
    }
    auto& c = circuits_[id];
    if (c.ours && dht_) dht_->node().relay_used(c.relay, now);
    table_->on_bytes(id, f->payload, now);
    return true;
}

void SessionHost::close_relay(session::LinkId link) {
    auto it = circuits_.find(link);
    if (it == circuits_.end()) return;
    if (it->second.id != 0) {
        // Tell the relay, which tells the other end: the circuit's resources go at once.
        static constexpr std::string_view kWhy = "closed";
        if (dht_ && !closing_)
            dht_->send(it->second.relay.endpoint,
                       dht::relay_frame(dht::RelayKind::close, it->second.id,
                                        {reinterpret_cast<const uint8_t*>(kWhy.data()), kWhy.size()}));
        circuit_links_.erase({it->second.relay.endpoint, it->second.id});
    }
    circuits_.erase(it);
    if (core_) core_->mark();
}

std::optional<session::Path> SessionHost::session_path(const PublicKey& peer) {
    auto l = table_->live_link(peer);
    if (!l) return std::nullopt;
    return l->path;
}

}  // namespace cli
