#include "cli/node_host.hpp"

namespace cli {

NodeHost::NodeHost(net::Loop& loop, net::RecvBuffer& buf, dht::Decoder& decoder, base::Rng& rng,
                   base::Logger& log, const dht::Config& cfg, crypto::Identity identity,
                   size_t key_cache)
    : loop_{loop},
      buf_{buf},
      decoder_{decoder},
      rng_{rng},
      log_{log},
      cfg_{cfg},
      identity_{std::move(identity)},
      auth_{identity_, key_cache} {}

NodeHost::~NodeHost() {
    node_.reset();  // before the sockets it sends on
    timer_.reset();
    sockets_.clear();
}

base::Status NodeHost::bind(const base::Endpoint& at) {
    auto s = net::UdpSocket::bind(loop_, buf_, at, [this](const base::Endpoint& from, std::span<const uint8_t> d) {
        if (!node_) return;
        node_->on_datagram(from, d, base::steady_now());
        rearm();
    });
    if (!s) return s.status();
    sockets_.push_back(std::move(*s));
    return {};
}

base::Status NodeHost::start() {
    auto t = net::Timer::make(loop_, [this] { rearm(); });
    if (!t) return t.status();
    timer_ = std::move(*t);
    node_ = std::make_unique<dht::Node>(cfg_, auth_, *this, decoder_, rng_, log_, base::steady_now());
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

void NodeHost::rearm() {
    if (!node_ || !timer_) return;
    base::TimePoint now = base::steady_now();
    base::TimePoint next = node_->tick(now);
    if (after_event_) after_event_();
    if (!timer_) return;  // after_event_ may have shut us down
    if (next == base::kNever) {
        timer_->stop();
        return;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    // Round up so the timer never fires before the deadline and spins.
    if (next > now + std::chrono::milliseconds(ms)) ++ms;
    timer_->start(static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
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
