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
    auto c = turn_.add([this](base::TimePoint now) { return node_->tick(now); });
    if (!c) return c.status();
    core_ = std::move(*c);
    node_ = std::make_unique<dht::Node>(cfg_, auth_, *this, decoder_, rng_, log_, base::steady_now());
    core_->mark();
    return {};
}

void NodeHost::send(const base::Endpoint& to, std::span<const uint8_t> datagram) {
    for (auto& s : sockets_) {
        if (s->local().is_v6() == to.is_v6()) {
            s->send(to, datagram);
            return;
        }
    }
    KC_LOG(log_, debug, "net", "no socket for %s", to.to_string().c_str());
}

std::vector<base::Endpoint> NodeHost::local_endpoints() const {
    std::vector<base::Endpoint> out;
    for (auto& s : sockets_) out.push_back(s->local());
    return out;
}

uint64_t NodeHost::send_errors() const {
    uint64_t n = 0;
    for (auto& s : sockets_) n += s->send_errors();
    return n;
}

}  // namespace cli
