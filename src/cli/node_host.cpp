#include "cli/node_host.hpp"

namespace cli {

NodeHost::NodeHost(net::Loop& loop, net::LoopTurn& turn, net::RecvBuffer& buf, dht::Decoder& decoder,
                   base::Rng& rng, base::Logger& log, const dht::Config& cfg, crypto::Identity identity,
                   size_t key_cache)
    : loop_{loop},
      turn_{turn},
      buf_{buf},
      decoder_{decoder},
      rng_{rng},
      log_{log},
      cfg_{cfg},
      identity_{std::move(identity)},
      auth_{identity_, key_cache} {}

NodeHost::~NodeHost() {
    core_.reset();
    node_.reset();  // before the sockets it sends on
    sockets_.clear();
}

base::Status NodeHost::bind(const base::Endpoint& at) {
    auto s = net::UdpSocket::bind(loop_, buf_, at, [this](const base::Endpoint& from, std::span<const uint8_t> d) {
        if (!node_) return;
        if (!d.empty() && d[0] != '{') {
            if (on_other_datagram && on_other_datagram(from, d)) return;
            // A relay datagram that is not for a circuit of ours: one we may be relaying.
            if (d[0] == dht::kRelayType) return node().on_relay_datagram(from, d, base::steady_now());
            ++other_dropped_;
            return;
        }
        node().on_datagram(from, d, base::steady_now());
    });
    if (!s) return s.status();
    sockets_.push_back(std::move(*s));
    return {};
}

base::Status NodeHost::start() {
    auto c = turn_.add([this](base::TimePoint now) {
        node_->set_wall_offset(base::wall_offset());  // (two vDSO clock reads: cheap)
        return node_->tick(now);
    });
    if (!c) return c.status();
    core_ = std::move(*c);
    node_ = std::make_unique<dht::Node>(cfg_, auth_, *this, decoder_, rng_, log_, base::steady_now());
    node_->set_wall_offset(base::wall_offset());
    core_->mark();
    return {};
}

void NodeHost::send(const base::Endpoint& to, std::span<const uint8_t> datagram) {
    // Every UDP datagram of this node leaves here: count those above the 1,200 bytes that pass
    // real paths unfragmented (PROTOCOL.md §1), by kind, so that tests and `ctl dht stats` see them.
    if (datagram.size() > kMaxPathDatagram) {
        ++oversized_[datagram.empty() || datagram[0] == '{' ? 0 : 1];
        if (oversized_[0] + oversized_[1] <= 5)
            KC_LOG(log_, info, "net", "sent a %zu-byte %s datagram (over %zu bytes)", datagram.size(),
                   datagram[0] == '{' ? "DHT" : "session", kMaxPathDatagram);
    }
    for (auto& s : sockets_) {
        if (s->local().is_v6() == to.is_v6()) {
            s->send(to, datagram);
            return;
        }
    }
    KC_LOG(log_, debug, "net", "no socket for %s", to.to_string().c_str());
}

base::Result<std::unique_ptr<net::UdpSocket>> NodeHost::bind_extra(base::Endpoint::Family family,
                                                                    net::UdpSocket::OnDatagram cb) {
    for (auto& s : sockets_) {
        if (s->local().family != family) continue;
        base::Endpoint at = s->local();
        at.port = 0;
        return net::UdpSocket::bind(loop_, buf_, at, std::move(cb));
    }
    return base::Status{base::Errc::unavailable, "no socket of that family"};
}

std::vector<base::Endpoint> NodeHost::local_endpoints() const {
    std::vector<base::Endpoint> out;
    for (auto& s : sockets_) out.push_back(s->local());
    return out;
}

uint64_t NodeHost::empty_received() const {
    uint64_t n = 0;
    for (auto& s : sockets_) n += s->empty_received();
    return n;
}

uint64_t NodeHost::send_errors() const {
    uint64_t n = 0;
    for (auto& s : sockets_) n += s->send_errors();
    return n;
}

}  // namespace cli
