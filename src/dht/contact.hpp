#pragma once
// What the routing table knows of one peer.
#include "base/endpoint.hpp"
#include "base/time.hpp"
#include "dht/node_id.hpp"

namespace dht {

struct NodeInfo {  // as carried in find_node / find_value replies
    NodeId id;
    base::Endpoint endpoint;
    friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

struct Contact {
    NodeId id;
    base::Endpoint endpoint;
    base::TimePoint last_seen{};   // last authenticated datagram from it
    base::Duration rtt{0};         // smoothed; 0 = not measured yet
    uint8_t failures = 0;          // consecutive full timeouts
    bool pinging = false;          // a liveness ping is outstanding

    NodeInfo info() const { return {id, endpoint}; }
    void record_rtt(base::Duration sample) {
        rtt = rtt.count() == 0 ? sample : (rtt * 7 + sample) / 8;
    }
};

}  // namespace dht
