#pragma once
// The thin runtime of LAN discovery (dht::LanDiscovery, PROTOCOL.md §18): the multicast socket on
// the local link, the announce timer (a loop-turn core), and the nodes heard handed to the DHT
// node (Node::lan_peer). Only a node that listens on a non-loopback address runs it.
#include <memory>

#include "base/logger.hpp"
#include "cli/node_host.hpp"
#include "dht/lan_discovery.hpp"
#include "net/loop_turn.hpp"
#include "net/udp_socket.hpp"

namespace cli {

// 239.192.0.0/14 is the IPv4 organisation-local scope (RFC 2365); with TTL 1 nothing leaves the link.
inline const base::Endpoint kLanGroup = base::Endpoint::v4(239, 192, 44, 54, 44545);

class LanHost {
public:
    static base::Result<std::unique_ptr<LanHost>> start(net::Loop& loop, net::LoopTurn& turn, net::RecvBuffer& buf,
                                                         NodeHost& host, base::Logger& log,
                                                         const base::Endpoint& group, uint16_t dht_port);
    const dht::LanDiscovery::Stats& stats() const { return disc_.stats(); }

private:
    LanHost(NodeHost& host, base::Logger& log, const base::Endpoint& group, uint16_t dht_port)
        : host_{host}, log_{log}, group_{group}, disc_{dht::NodeId{host.identity().public_key}, dht_port, dht::LanConfig{}, base::steady_now()} {}
    base::TimePoint tick(base::TimePoint now);

    NodeHost& host_;
    base::Logger& log_;
    base::Endpoint group_;
    dht::LanDiscovery disc_;
    std::unique_ptr<net::UdpSocket> socket_;
    std::unique_ptr<net::LoopTurn::Core> core_;
};

}  // namespace cli
