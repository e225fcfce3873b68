#include "cli/lan_host.hpp"

namespace cli {

base::Result<std::unique_ptr<LanHost>> LanHost::start(net::Loop& loop, net::LoopTurn& turn, net::RecvBuffer& buf,
                                                       NodeHost& host, base::Logger& log,
                                                       const base::Endpoint& group, uint16_t dht_port) {
    std::unique_ptr<LanHost> h{new LanHost(host, log, group, dht_port)};
    LanHost* self = h.get();
    auto s = net::UdpSocket::bind_multicast(loop, buf, group, [self](const base::Endpoint& from,
                                                                     std::span<const uint8_t> d) {
        auto now = base::steady_now();
        if (auto found = self->disc_.on_datagram(from, d, now)) {
            KC_LOG(self->log_, debug, "dht", "local link: %s announces itself at %s",
                   found->id.short_hex().c_str(), found->endpoint.to_string().c_str());
            self->host_.node().lan_peer(*found, now);
        }
        if (self->core_) self->core_->mark();
    });
    if (!s) return s.status();
    h->socket_ = std::move(*s);
    auto c = turn.add([self](base::TimePoint now) { return self->tick(now); });
    if (!c) return c.status();
    h->core_ = std::move(*c);
    h->core_->mark();
    KC_LOG(log, info, "dht", "looking for nodes on the local link (multicast %s)", group.to_string().c_str());
    return h;
}

base::TimePoint LanHost::tick(base::TimePoint now) {
    if (disc_.due(now)) {
        const std::string& a = disc_.announce();
        socket_->send(group_, {reinterpret_cast<const uint8_t*>(a.data()), a.size()});
        disc_.sent(now);
    }
    return disc_.next();
}

}  // namespace cli
