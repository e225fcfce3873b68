#pragma once
// A deterministic network of dht::Nodes in one process under virtual time (c-toxcore's
// network_universe, libtorrent's simulation/setup_dht): a delivery-time priority queue with
// latency, jitter and loss, one clock and one seed. No sockets; endpoints are virtual addresses
// in 127.0.0.0/8 that never reach the operating system.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "crypto/keys.hpp"
#include "dht/node.hpp"
#include "sim_nat.hpp"

namespace sim {

struct WorldConfig {
    uint64_t seed = 1;
    base::Duration latency = std::chrono::milliseconds(20);  // one-way, before jitter
    base::Duration jitter = std::chrono::milliseconds(10);   // uniform extra delay
    double loss = 0.0;                                       // per datagram
    bool real_crypto = false;  // CryptoAuthenticator with seeded Ed25519 keys instead of InsecureAuth
    dht::Config dht{};
    base::Level log_level = base::Level::off;
};

class World {
public:
    explicit World(WorldConfig cfg);
    ~World();

    // Adds n nodes (not joined yet); returns the index of the first. With `nat`, they sit behind
    // that NAT (add_nat), at private endpoints 10.N.x.y; without, at public ones 127.x.y.z.
    size_t spawn(size_t n, std::optional<size_t> nat = std::nullopt) { return spawn(n, nat, cfg_.dht); }
    // The same, with their own DHT configuration (a node that does not relay, say).
    size_t spawn(size_t n, std::optional<size_t> nat, const dht::Config& cfg);
    // A NAT with its own public address 198.51.100.N+1; returns N.
    size_t add_nat(NatKind kind, base::Duration timeout = std::chrono::seconds(120));
    SimNat& nat(size_t n) { return *nats_[n]; }
    uint64_t nat_drops() const { return nat_drops_; }
    // Node i joins through node `via` at virtual time `at`.
    void schedule_join(size_t i, size_t via, base::TimePoint at);
    // Runs `fn` at virtual time `at`, in event order.
    void schedule(base::TimePoint at, std::function<void()> fn);

    void run_until(base::TimePoint t);
    void run_for(base::Duration d) { run_until(now_ + d); }
    // Runs until `pred` holds (checked after each event) or `limit` passes; returns pred().
    bool run_until(const std::function<bool()>& pred, base::Duration limit);

    dht::Node& node(size_t i);
    size_t size() const { return nodes_.size(); }
    base::Endpoint endpoint(size_t i) const;
    base::TimePoint now() const { return now_; }
    base::Rng& rng() { return rng_; }
    // A hash over every delivered datagram, its time and its receiver: equal digests mean an
    // exact replay.
    uint64_t digest() const { return digest_; }
    uint64_t delivered() const { return delivered_; }
    uint64_t lost() const { return lost_; }
    // Datagrams sent above dht::kMaxDatagram (1,200 bytes), and the largest of them.
    uint64_t oversized() const { return oversized_; }
    size_t largest_oversized() const { return largest_; }
    // Runs node i's due work and re-arms its timer: call after driving a node from outside.
    void poke(size_t i) { after_event(i); }
    // Stops delivering to and from node i (it crashed), or brings it back.
    void set_down(size_t i, bool down);
    // Node i leaves without notice, as a killed process or a closed laptop: its in-memory state
    // (routing table, stored values and mailbox items) is gone, and it sends and receives
    // nothing. Returns its live contacts, what the real node saves in contacts.json.
    std::vector<dht::NodeInfo> crash(size_t i);
    // Node i starts again with the same identity and its saved contacts, and joins through them
    // and `bootstrap`, as a restarted daemon does.
    void restart(size_t i, const std::vector<dht::NodeInfo>& saved, std::vector<size_t> bootstrap);
    bool up(size_t i) const;
    // Dumps the captured log lines of node i (for failure reports).
    std::string log_of(size_t i) const;
    // A datagram from node i's socket (through its NAT), as a session layer would send it.
    void send_raw(size_t i, const base::Endpoint& to, std::span<const uint8_t> d) {
        deliver(static_cast<uint32_t>(i), to, d);
    }
    // Datagrams that are not DHT messages, as NodeHost demultiplexes them: this first (true:
    // taken, as a session host takes its own circuits), then relay frames to the node's relay.
    std::function<bool(size_t node, const base::Endpoint& from, std::span<const uint8_t>)> on_other;

private:
    struct SimNode;
    class SimTransport;
    struct Event {
        base::TimePoint at;
        uint64_t seq;
        uint32_t to;      // node index, or UINT32_MAX for a scheduled function
        uint32_t from;
        uint32_t fn = 0;  // index into fns_ when to == UINT32_MAX
        std::string data;
        base::Endpoint src;  // as the receiver sees it (after any NAT)
        bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    void deliver(uint32_t from, const base::Endpoint& to, std::span<const uint8_t> d);
    void after_event(size_t i);
    bool step(base::TimePoint limit);
    size_t index_of(const base::Endpoint& ep) const;

    WorldConfig cfg_;
    base::SeededRng rng_;
    base::TimePoint now_{};
    dht::Decoder decoder_;
    std::vector<std::unique_ptr<SimNode>> nodes_;
    std::vector<std::unique_ptr<SimNat>> nats_;
    uint64_t nat_drops_ = 0;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
    // Per-node timers: (deadline, node) with lazy invalidation against SimNode::deadline.
    std::priority_queue<std::pair<base::TimePoint, uint32_t>, std::vector<std::pair<base::TimePoint, uint32_t>>,
                        std::greater<>> timers_;
    std::vector<std::function<void()>> fns_;
    uint64_t seq_ = 0;
    uint64_t digest_ = 1469598103934665603ULL;
    uint64_t delivered_ = 0, lost_ = 0, oversized_ = 0;
    size_t largest_ = 0;
    uint32_t sending_from_ = 0;
};

}  // namespace sim
