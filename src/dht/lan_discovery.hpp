#pragma once
// Finding DHT nodes on the local link without any bootstrap node or internet (PROTOCOL.md §18),
// sans-I/O. Each node multicasts a small announce, its ID and DHT port and nothing else, to a
// group on the local link (TTL 1), when it starts and every `interval` after; a node that hears
// a node it has not heard recently announces again soon (at most once per `min_gap`), so that a
// newcomer learns the others in a second rather than an interval. What an announce names is only
// a hint: the node is then asked over the DHT (a MAC'd query to that ID), so a forged announce
// costs one unanswered query and adds nothing. The same idea as Tox's LAN broadcast, OpenDHT's
// multicast peer discovery and libp2p's mDNS.
#include <map>
#include <optional>
#include <span>
#include <string>

#include "base/endpoint.hpp"
#include "base/time.hpp"
#include "dht/contact.hpp"

namespace dht {

struct LanConfig {
    base::Duration interval = std::chrono::seconds(30);
    base::Duration min_gap = std::chrono::seconds(1);       // between two announces of ours
    base::Duration remember = std::chrono::minutes(2);      // a node heard within this is not new
    size_t max_remembered = 256;
};

class LanDiscovery {
public:
    LanDiscovery(const NodeId& self, uint16_t dht_port, LanConfig cfg, base::TimePoint now);

    // Our announce, to send to the group when due() says so; then call sent().
    const std::string& announce() const { return announce_; }
    bool due(base::TimePoint now) const { return now >= next_; }
    void sent(base::TimePoint now);
    base::TimePoint next() const { return next_; }

    // A datagram from the group. Returns the node it names when it is a valid announce from
    // another node that we have not heard within `remember`; anything else is counted.
    std::optional<NodeInfo> on_datagram(const base::Endpoint& from, std::span<const uint8_t> d, base::TimePoint now);

    struct Stats {
        uint64_t sent = 0, received = 0, own = 0, malformed = 0, found = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    NodeId self_;
    LanConfig cfg_;
    std::string announce_;
    base::TimePoint next_;
    base::TimePoint last_sent_{};
    std::map<NodeId, base::TimePoint> heard_;
    Stats stats_;
};

}  // namespace dht
