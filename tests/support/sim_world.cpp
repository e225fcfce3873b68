#include "sim_world.hpp"

#include <stdexcept>

#include "dht/auth.hpp"
#include "insecure_auth.hpp"
#include "sim_hash.hpp"

namespace sim {

class World::SimTransport final : public dht::Transport {
public:
    SimTransport(World& w, uint32_t self) : world_{w}, self_{self} {}
    void send(const base::Endpoint& to, std::span<const uint8_t> d) override { world_.deliver(self_, to, d); }

private:
    World& world_;
    uint32_t self_;
};

struct World::SimNode {
    SimNode(World& w, uint32_t idx, base::Level level) : transport{w, idx}, log{level} {}
    std::unique_ptr<crypto::Identity> identity;  // real_crypto only
    std::unique_ptr<dht::Authenticator> auth;
    SimTransport transport;
    base::CaptureLogger log;
    std::unique_ptr<dht::Node> node;
    std::unique_ptr<dht::Config> cfg;  // the node's configuration, kept for restart()
    base::TimePoint deadline = base::kNever;   // what tick() last returned
    base::TimePoint scheduled = base::kNever;  // earliest live entry in timers_
    bool down = false;
    std::optional<size_t> nat;
    uint32_t spins = 0;  // timer ticks in a row that asked to be ticked again at once
};

dht::Node& World::node(size_t i) { return *nodes_[i]->node; }

World::World(WorldConfig cfg) : cfg_{std::move(cfg)}, rng_{cfg_.seed}, decoder_{cfg_.dht.max_datagram} {}
World::~World() = default;

base::Endpoint World::endpoint(size_t i) const {
    size_t v = i + 1;
    auto nat = i < nodes_.size() ? nodes_[i]->nat : std::nullopt;
    if (nat && nats_[*nat]->kind() != NatKind::firewall)
        return base::Endpoint::v4(10, static_cast<uint8_t>(*nat), static_cast<uint8_t>(v >> 8),
                                  static_cast<uint8_t>(v), 4000);
    return base::Endpoint::v4(127, static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                              static_cast<uint8_t>(v), 4000);
}

size_t World::index_of(const base::Endpoint& ep) const {
    if (ep.is_v6() || ep.port != 4000) return SIZE_MAX;
    size_t v = 0;
    if (ep.addr[0] == 127)
        v = (size_t{ep.addr[1]} << 16) | (size_t{ep.addr[2]} << 8) | ep.addr[3];
    else if (ep.addr[0] == 10)
        v = (size_t{ep.addr[2]} << 8) | ep.addr[3];
    if (v == 0 || v > nodes_.size() || endpoint(v - 1) != ep) return SIZE_MAX;
    return v - 1;
}

size_t World::add_nat(NatKind kind, base::Duration timeout) {
    auto ip = base::Endpoint::v4(198, 51, 100, static_cast<uint8_t>(nats_.size() + 1), 0);
    nats_.push_back(std::make_unique<SimNat>(kind, ip, rng_, timeout));
    return nats_.size() - 1;
}

size_t World::spawn(size_t n, std::optional<size_t> nat, const dht::Config& cfg) {
    size_t first = nodes_.size();
    for (size_t k = 0; k < n; ++k) {
        auto idx = static_cast<uint32_t>(nodes_.size());
        auto sn = std::make_unique<SimNode>(*this, idx, cfg_.log_level);
        sn->nat = nat;
        if (cfg_.real_crypto) {
            sn->identity = std::make_unique<crypto::Identity>(crypto::Identity::from_rng(rng_));
            sn->auth = std::make_unique<dht::CryptoAuthenticator>(*sn->identity, 256);
        } else {
            sn->auth = std::make_unique<InsecureAuth>(dht::NodeId::random(rng_));
        }
        sn->log.set_tag(sn->auth->self().short_hex());
        sn->cfg = std::make_unique<dht::Config>(cfg);
        sn->node = std::make_unique<dht::Node>(*sn->cfg, *sn->auth, sn->transport, decoder_, rng_, sn->log, now_);
        nodes_.push_back(std::move(sn));
        nodes_.back()->node->set_local_addresses({endpoint(idx)});
        after_event(idx);
    }
    return first;
}

void World::schedule(base::TimePoint at, std::function<void()> fn) {
    fns_.push_back(std::move(fn));
    events_.push(Event{at, seq_++, UINT32_MAX, 0, static_cast<uint32_t>(fns_.size() - 1), {}, {}});
}

void World::schedule_join(size_t i, size_t via, base::TimePoint at) {
    schedule(at, [this, i, via] {
        node(i).set_bootstrap({endpoint(via)});
        node(i).join(now_);
        after_event(i);
    });
}

void World::set_down(size_t i, bool down) { nodes_[i]->down = down; }

bool World::up(size_t i) const { return nodes_[i]->node != nullptr && !nodes_[i]->down; }

std::vector<dht::NodeInfo> World::crash(size_t i) {
    SimNode& n = *nodes_[i];
    std::vector<dht::NodeInfo> saved;
    if (!n.node) return saved;
    for (auto& b : n.node->table().buckets())
        for (auto& c : b.live) saved.push_back({c.id, c.endpoint});
    n.node.reset();
    n.down = true;
    n.deadline = n.scheduled = base::kNever;
    return saved;
}

void World::restart(size_t i, const std::vector<dht::NodeInfo>& saved, std::vector<size_t> bootstrap) {
    SimNode& n = *nodes_[i];
    n.node = std::make_unique<dht::Node>(*n.cfg, *n.auth, n.transport, decoder_, rng_, n.log, now_);
    n.down = false;
    n.node->set_local_addresses({endpoint(i)});
    std::vector<base::Endpoint> eps;
    for (size_t b : bootstrap) eps.push_back(endpoint(b));
    n.node->set_bootstrap(std::move(eps));
    n.node->add_saved_contacts(saved);
    n.node->join(now_);
    after_event(i);
}

// Through the sender's NAT (if any) and the receiver's (if any), as sim_nat.hpp describes.
void World::deliver(uint32_t from, const base::Endpoint& to, std::span<const uint8_t> d) {
    const SimNode& s = *nodes_[from];
    if (d.size() > dht::kMaxDatagram) {
        ++oversized_;
        largest_ = std::max(largest_, d.size());
    }
    base::Endpoint src = endpoint(from);
    bool lan = s.nat && to.addr[0] == 10 && to.addr[1] == *s.nat;
    if (s.nat && !lan) src = nats_[*s.nat]->outbound(src, to, now_);
    size_t idx = SIZE_MAX;
    if (!to.is_v6() && to.addr[0] == 198 && to.addr[1] == 51 && to.addr[2] == 100 && to.addr[3] >= 1 &&
        to.addr[3] <= nats_.size()) {
        auto inside = nats_[to.addr[3] - 1u]->inbound(src, to.port, now_);
        if (!inside) {
            ++nat_drops_;
            return;
        }
        idx = index_of(*inside);
    } else if (to.addr[0] == 10 && !lan) {
        return;  // a private address of another site: not routed
    } else {
        idx = index_of(to);
        if (idx != SIZE_MAX && nodes_[idx]->nat && !lan) {
            SimNat& fw = *nats_[*nodes_[idx]->nat];
            if (fw.kind() == NatKind::firewall && !fw.firewall_admits(to.port, src, now_)) {
                ++nat_drops_;
                return;
            }
        }
    }
    if (idx == SIZE_MAX) return;
    if (cfg_.loss > 0 && rng_.unit() < cfg_.loss) {
        ++lost_;
        return;
    }
    base::Duration delay = cfg_.latency;
    if (cfg_.jitter.count() > 0) delay += base::Duration{static_cast<int64_t>(rng_.uniform(static_cast<uint64_t>(cfg_.jitter.count())))};
    events_.push(Event{now_ + delay, seq_++, static_cast<uint32_t>(idx), from, 0,
                       std::string(reinterpret_cast<const char*>(d.data()), d.size()), src});
}

// Each node keeps at most one live timer entry, at or before its deadline. A deadline that moves
// later keeps the earlier entry (the node then ticks early, which is harmless); one that moves
// earlier adds an entry and strands the old one, dropped when it surfaces. Pushing on every change
// instead let stale entries pile up to gigabytes in a 100,000-node run.
void World::after_event(size_t i) {
    SimNode& n = *nodes_[i];
    if (!n.node) return;  // crashed
    base::TimePoint next = n.node->tick(now_);
    n.deadline = next;
    if (next != base::kNever && next < n.scheduled) {
        n.scheduled = next;
        timers_.emplace(next, static_cast<uint32_t>(i));
    }
}

bool World::step(base::TimePoint limit) {
    // Drop stranded timer entries.
    while (!timers_.empty() && nodes_[timers_.top().second]->scheduled != timers_.top().first) timers_.pop();
    bool have_event = !events_.empty();
    bool have_timer = !timers_.empty();
    if (!have_event && !have_timer) return false;
    bool timer_first = have_timer && (!have_event || timers_.top().first < events_.top().at);
    base::TimePoint at = timer_first ? timers_.top().first : events_.top().at;
    if (at > limit) return false;
    now_ = std::max(now_, at);
    if (timer_first) {
        uint32_t i = timers_.top().second;
        timers_.pop();
        nodes_[i]->scheduled = base::kNever;
        after_event(i);
        // A tick that keeps asking for another at the same instant is a busy loop: a real node
        // would spin its event loop at 100 % CPU. Fail loudly instead of hanging the test.
        SimNode& n = *nodes_[i];
        n.spins = n.node && n.deadline <= now_ ? n.spins + 1 : 0;
        if (n.spins > 10000)
            throw std::runtime_error("node " + std::to_string(i) + " busy-loops: its tick keeps returning a deadline that is not after now");
        return true;
    }
    Event ev = std::move(const_cast<Event&>(events_.top()));
    events_.pop();
    if (ev.to == UINT32_MAX) {
        auto fn = std::move(fns_[ev.fn]);
        fn();
        return true;
    }
    SimNode& dst = *nodes_[ev.to];
    if (dst.down || nodes_[ev.from]->down || !dst.node) return true;
    ++delivered_;
    uint64_t h = digest_ ^ static_cast<uint64_t>(now_.time_since_epoch().count());
    h = (h ^ ev.to) * 1099511628211ULL;
    std::span<const uint8_t> bytes{reinterpret_cast<const uint8_t*>(ev.data.data()), ev.data.size()};
    digest_ = mix_bytes(h, bytes);
    if (!bytes.empty() && bytes[0] != '{') {
        if (on_other && on_other(ev.to, ev.src, bytes)) return true;
        if (bytes[0] == dht::kRelayType) dst.node->on_relay_datagram(ev.src, bytes, now_);
    } else {
        dst.node->on_datagram(ev.src, bytes, now_);
    }
    after_event(ev.to);
    return true;
}

void World::run_until(base::TimePoint t) {
    while (step(t)) {
    }
    now_ = std::max(now_, t);
}

bool World::run_until(const std::function<bool()>& pred, base::Duration limit) {
    base::TimePoint end = now_ + limit;
    if (pred()) return true;
    while (step(end))
        if (pred()) return true;
    now_ = std::max(now_, end);
    return pred();
}

std::string World::log_of(size_t i) const {
    std::string out;
    for (auto& l : nodes_[i]->log.lines()) out += l + "\n";
    return out;
}

}  // namespace sim
