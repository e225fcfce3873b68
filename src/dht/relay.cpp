#include "dht/relay.hpp"

#include <algorithm>
#include <charconv>

namespace dht {

std::vector<uint8_t> relay_frame(RelayKind kind, uint64_t circuit, std::span<const uint8_t> payload) {
    std::vector<uint8_t> out;
    out.reserve(kRelayHeader + payload.size());
    out.push_back(kRelayType);
    out.push_back(static_cast<uint8_t>(kind));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(circuit >> (8 * i)));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

std::optional<RelayFrame> parse_relay_frame(std::span<const uint8_t> d) {
    if (d.size() < kRelayHeader || d[0] != kRelayType) return std::nullopt;
    if (d[1] != static_cast<uint8_t>(RelayKind::data) && d[1] != static_cast<uint8_t>(RelayKind::close))
        return std::nullopt;
    RelayFrame f;
    f.kind = static_cast<RelayKind>(d[1]);
    for (size_t i = 2; i < kRelayHeader; ++i) f.circuit = f.circuit << 8 | d[i];
    f.payload = d.subspan(kRelayHeader);
    if (f.kind == RelayKind::data && f.payload.empty()) return std::nullopt;
    return f;
}

base::Result<RelayLimits> parse_relay_limits(std::string_view text, RelayLimits l) {
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) return base::invalid_argument("relay limits: '" + std::string(item) + "' is not name=number");
        auto name = item.substr(0, eq), value = item.substr(eq + 1);
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc{} || p != value.data() + value.size())
            return base::invalid_argument("relay limits: '" + std::string(value) + "' is not a number");
        if (name == "circuits") l.circuits = v;
        else if (name == "per-node") l.per_node = v;
        else if (name == "rate") l.rate = v;
        else if (name == "burst") l.burst = v;
        else if (name == "bytes") l.bytes = v;
        else if (name == "lifetime") l.lifetime = std::chrono::seconds(v);
        else
            return base::invalid_argument("relay limits: unknown limit '" + std::string(name) +
                                          "' (circuits, per-node, rate, burst, bytes, lifetime)");
    }
    if (l.rate == 0 || l.burst < 1500 || l.bytes == 0 || l.lifetime <= base::Duration::zero())
        return base::invalid_argument("relay limits: rate, bytes and lifetime must be positive, burst at least 1500");
    return l;
}

std::string to_string(const RelayLimits& l) {
    return "circuits=" + std::to_string(l.circuits) + ",per-node=" + std::to_string(l.per_node) +
           ",rate=" + std::to_string(l.rate) + ",burst=" + std::to_string(l.burst) + ",bytes=" + std::to_string(l.bytes) +
           ",lifetime=" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(l.lifetime).count());
}

uint64_t Relay::fresh_id() {
    for (;;) {
        uint64_t id = rng_.next_u64();
        if (id != 0 && !by_id_.count(id)) return id;
    }
}

base::Result<Relay::Opened> Relay::open(const NodeId& asker, const base::Endpoint& asker_ep, const NodeId& target,
                                        const base::Endpoint& target_ep, base::TimePoint now) {
    if (asker == target) return base::invalid_argument("a circuit to oneself");
    if (circuits_.size() >= limits_.circuits) {
        ++stats_.refused;
        return base::Status{base::Errc::limit, "relay full (" + std::to_string(limits_.circuits) + " circuits)"};
    }
    size_t of_asker = 0, of_target = 0;
    for (auto& [k, c] : circuits_) {
        of_asker += c.asker == asker || c.target == asker;
        of_target += c.asker == target || c.target == target;
    }
    if (of_asker >= limits_.per_node || of_target >= limits_.per_node) {
        ++stats_.refused;
        return base::Status{base::Errc::limit, "too many circuits for one node"};
    }
    Circuit c;
    c.asker = asker;
    c.target = target;
    c.asker_ep = asker_ep;
    c.target_ep = target_ep;
    c.asker_id = fresh_id();
    by_id_[c.asker_id] = 0;  // reserve it before the second draw
    c.target_id = fresh_id();
    c.opened = c.tokens_at = now;
    c.tokens = static_cast<double>(limits_.burst);
    by_id_[c.asker_id] = c.target_id;
    by_id_[c.target_id] = c.target_id;
    Opened o{c.asker_id, c.target_id};
    circuits_.emplace(c.target_id, std::move(c));
    ++stats_.opened;
    return o;
}

void Relay::confirm(uint64_t target_circuit, base::TimePoint now) {
    auto it = circuits_.find(target_circuit);
    if (it == circuits_.end()) return;
    it->second.confirmed = true;
    it->second.opened = now;
}

void Relay::abandon(uint64_t target_circuit) {
    auto it = circuits_.find(target_circuit);
    if (it == circuits_.end()) return;
    by_id_.erase(it->second.asker_id);
    by_id_.erase(it->second.target_id);
    circuits_.erase(it);
}

void Relay::close(uint64_t key, const std::string& why, std::vector<RelayOut>& out, const base::Endpoint* skip) {
    auto it = circuits_.find(key);
    if (it == circuits_.end()) return;
    Circuit& c = it->second;
    std::span<const uint8_t> reason{reinterpret_cast<const uint8_t*>(why.data()), std::min<size_t>(why.size(), 120)};
    if (c.confirmed) {
        if (!skip || !(*skip == c.asker_ep)) out.push_back({c.asker_ep, relay_frame(RelayKind::close, c.asker_id, reason)});
        if (!skip || !(*skip == c.target_ep))
            out.push_back({c.target_ep, relay_frame(RelayKind::close, c.target_id, reason)});
    }
    abandon(key);
}

std::vector<RelayOut> Relay::on_datagram(const base::Endpoint& from, std::span<const uint8_t> d, base::TimePoint now) {
    std::vector<RelayOut> out;
    auto f = parse_relay_frame(d);
    if (!f) {
        ++stats_.dropped_malformed;
        return out;
    }
    auto id = by_id_.find(f->circuit);
    auto it = id == by_id_.end() ? circuits_.end() : circuits_.find(id->second);
    if (it == circuits_.end() || !it->second.confirmed) {
        ++stats_.dropped_unknown;
        return out;
    }
    Circuit& c = it->second;
    bool from_asker = f->circuit == c.asker_id;
    // Only the end the id was given to may use it: a copied id from elsewhere goes nowhere.
    if (!(from == (from_asker ? c.asker_ep : c.target_ep))) {
        ++stats_.dropped_spoofed;
        return out;
    }
    if (f->kind == RelayKind::close) {
        ++stats_.closed_by_end;
        close(it->first, "closed by the other end", out, &from);
        return out;
    }
    if (c.bytes + f->payload.size() > limits_.bytes) {
        ++stats_.closed_bytes;
        close(it->first, "byte cap reached (" + std::to_string(limits_.bytes) + " bytes per circuit)", out);
        return out;
    }
    double secs = std::chrono::duration<double>(now - c.tokens_at).count();
    c.tokens = std::min(static_cast<double>(limits_.burst), c.tokens + secs * static_cast<double>(limits_.rate));
    c.tokens_at = now;
    if (c.tokens < static_cast<double>(f->payload.size())) {
        ++c.dropped;
        ++stats_.dropped_rate;
        return out;  // over the rate: dropped, as a congested path would (the session resends)
    }
    c.tokens -= static_cast<double>(f->payload.size());
    c.bytes += f->payload.size();
    ++c.datagrams;
    ++stats_.forwarded;
    stats_.forwarded_bytes += f->payload.size();
    out.push_back({from_asker ? c.target_ep : c.asker_ep,
                   relay_frame(RelayKind::data, from_asker ? c.target_id : c.asker_id, f->payload)});
    return out;
}

std::vector<RelayOut> Relay::tick(base::TimePoint now, base::TimePoint& next) {
    std::vector<RelayOut> out;
    std::vector<std::pair<uint64_t, bool>> due;  // key, unconfirmed
    for (auto& [k, c] : circuits_) {
        auto until = c.opened + (c.confirmed ? limits_.lifetime : limits_.confirm);
        if (now >= until) due.push_back({k, !c.confirmed});
        else next = std::min(next, until);
    }
    for (auto [k, unconfirmed] : due) {
        ++(unconfirmed ? stats_.closed_unconfirmed : stats_.closed_lifetime);
        close(k, "circuit lifetime reached", out);
    }
    return out;
}

std::vector<RelayOut> Relay::close_node(const NodeId& node, const std::string& why) {
    std::vector<RelayOut> out;
    std::vector<uint64_t> keys;
    for (auto& [k, c] : circuits_)
        if (c.asker == node || c.target == node) keys.push_back(k);
    for (auto k : keys) {
        ++stats_.closed_node;
        close(k, why, out);
    }
    return out;
}

std::vector<Relay::CircuitInfo> Relay::circuits(base::TimePoint now) const {
    std::vector<CircuitInfo> out;
    for (auto& [k, c] : circuits_)
        out.push_back({c.asker, c.target, c.asker_ep, c.target_ep, c.confirmed, now - c.opened, c.bytes, c.datagrams,
                       c.dropped});
    return out;
}

}  // namespace dht
