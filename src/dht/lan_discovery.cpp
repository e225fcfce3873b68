#include "dht/lan_discovery.hpp"

#include <simdjson.h>

#include "dht/messages.hpp"

namespace dht {

namespace {
constexpr size_t kMaxAnnounce = 256;
}

LanDiscovery::LanDiscovery(const NodeId& self, uint16_t dht_port, LanConfig cfg, base::TimePoint now)
    : self_{self}, cfg_{cfg}, next_{now} {
    // Written by hand: four fixed fields, and the receiver checks every one.
    announce_ = "{\"kc\":\"lan\",\"v\":" + std::to_string(kProtocolVersion) + ",\"id\":\"" + self.hex() +
                "\",\"port\":" + std::to_string(dht_port) + "}";
}

void LanDiscovery::sent(base::TimePoint now) {
    ++stats_.sent;
    last_sent_ = now;
    next_ = now + cfg_.interval;
}

std::optional<NodeInfo> LanDiscovery::on_datagram(const base::Endpoint& from, std::span<const uint8_t> d,
                                                  base::TimePoint now) {
    ++stats_.received;
    auto bad = [&]() -> std::optional<NodeInfo> {
        ++stats_.malformed;
        return std::nullopt;
    };
    if (d.empty() || d.size() > kMaxAnnounce || from.is_v6()) return bad();
    simdjson::dom::parser parser;
    simdjson::padded_string text(reinterpret_cast<const char*>(d.data()), d.size());
    simdjson::dom::element root;
    simdjson::dom::object o;
    std::string_view kind, id_hex;
    int64_t v = 0, port = 0;
    if (parser.parse(text).get(root) || root.get_object().get(o) || o["kc"].get_string().get(kind) || kind != "lan" ||
        o["v"].get_int64().get(v) || v < 1 || o["id"].get_string().get(id_hex) || o["port"].get_int64().get(port) ||
        port < 1 || port > 65535)
        return bad();
    auto id = NodeId::from_hex(id_hex);
    if (!id) return bad();
    if (*id == self_) {
        ++stats_.own;
        return std::nullopt;
    }
    base::Endpoint ep = from;
    ep.port = static_cast<uint16_t>(port);
    auto it = heard_.find(*id);
    bool fresh = it == heard_.end() || now - it->second >= cfg_.remember;
    if (heard_.size() >= cfg_.max_remembered && it == heard_.end()) {
        // Forget the longest unheard: a LAN full of nodes (or of forged IDs) stays bounded.
        auto oldest = heard_.begin();
        for (auto i = heard_.begin(); i != heard_.end(); ++i)
            if (i->second < oldest->second) oldest = i;
        heard_.erase(oldest);
    }
    heard_[*id] = now;
    if (!fresh) return std::nullopt;
    ++stats_.found;
    // Someone new: tell it about us soon (it may have just started), not a whole interval later.
    next_ = std::min(next_, std::max(now, last_sent_ + cfg_.min_gap));
    return NodeInfo{*id, ep};
}

}  // namespace dht
