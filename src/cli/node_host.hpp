#pragma once
// The thin join between the sans-I/O dht::Node and libuv. It owns the node's UDP sockets, one
// per address family, which the DHT shares with punch probes and session datagrams, so that they
// all use one NAT mapping: a datagram whose first byte is '{' is a DHT message, anything else
// goes to `on_other_datagram` (PROTOCOL.md §1). The node's due work runs once per loop turn
// (net::LoopTurn): every socket event and every caller of node() marks it. Used by the daemon,
// the loopback tests and the benchmark alike.
#include <functional>
#include <memory>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "crypto/keys.hpp"
#include "dht/node.hpp"
#include "net/loop_turn.hpp"
#include "net/udp_socket.hpp"

namespace cli {

class NodeHost final : public dht::Transport {
public:
    // Returns false for a datagram nobody takes (counted in other_dropped()).
    using OnDatagram = std::function<bool(const base::Endpoint& from, std::span<const uint8_t>)>;
    // REQUIRES: every reference outlives the host; `identity` is moved in and owned.
    NodeHost(net::Loop& loop, net::LoopTurn& turn, net::RecvBuffer& buf, dht::Decoder& decoder, base::Rng& rng,
             base::Logger& log, const dht::Config& cfg, crypto::Identity identity, size_t key_cache = 128);
    ~NodeHost() override;

    base::Status bind(const base::Endpoint& at);
    // Creates the node. REQUIRES: at least one socket is bound.
    base::Status start();
    void send(const base::Endpoint& to, std::span<const uint8_t> datagram) override;

    // The node, to call into: it is ticked on this loop turn. peek() only reads.
    dht::Node& node() {
        if (core_) core_->mark();
        return *node_;
    }
    const dht::Node& peek() const { return *node_; }
    bool started() const { return node_ != nullptr; }
    const crypto::Identity& identity() const { return identity_; }
    std::vector<base::Endpoint> local_endpoints() const;
    // Binds another UDP socket on the address of our socket of `family` (any port), sharing the
    // receive buffer; for the session host's birthday attempts.
    base::Result<std::unique_ptr<net::UdpSocket>> bind_extra(base::Endpoint::Family family,
                                                              net::UdpSocket::OnDatagram cb);
    uint64_t send_errors() const;
    uint64_t empty_received() const;
    size_t key_agreements() const { return auth_.agreements(); }
    // Datagrams that are not DHT messages (probes, session datagrams).
    OnDatagram on_other_datagram;
    uint64_t other_dropped() const { return other_dropped_; }
    // Datagrams sent above kMaxPathDatagram: DHT messages, and everything else (sessions, probes,
    // relay frames).
    static constexpr size_t kMaxPathDatagram = 1200;
    uint64_t oversized_dht() const { return oversized_[0]; }
    uint64_t oversized_other() const { return oversized_[1]; }

private:
    net::Loop& loop_;
    net::LoopTurn& turn_;
    net::RecvBuffer& buf_;
    dht::Decoder& decoder_;
    base::Rng& rng_;
    base::Logger& log_;
    const dht::Config& cfg_;
    crypto::Identity identity_;
    dht::CryptoAuthenticator auth_;
    std::vector<std::unique_ptr<net::UdpSocket>> sockets_;
    std::unique_ptr<net::LoopTurn::Core> core_;
    std::unique_ptr<dht::Node> node_;
    uint64_t other_dropped_ = 0;
    uint64_t oversized_[2] = {0, 0};
};

}  // namespace cli
