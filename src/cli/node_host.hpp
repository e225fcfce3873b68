#pragma once
// The thin join between the sans-I/O dht::Node and libuv: datagrams from the sockets go into
// on_datagram(), the node's datagrams go out through the socket of the right address family, and
// one timer is re-armed to whatever tick() returns after every event. Used by the daemon, the
// loopback tests and the benchmark alike.
#include <memory>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "crypto/keys.hpp"
#include "dht/node.hpp"
#include "net/udp_socket.hpp"

namespace cli {

class NodeHost final : public dht::Transport {
public:
    // REQUIRES: every reference outlives the host; `identity` is moved in and owned.
    NodeHost(net::Loop& loop, net::RecvBuffer& buf, dht::Decoder& decoder, base::Rng& rng,
             base::Logger& log, const dht::Config& cfg, crypto::Identity identity,
             size_t key_cache = 128);
    ~NodeHost() override;

    base::Status bind(const base::Endpoint& at);
    // Creates the node. REQUIRES: at least one socket is bound.
    base::Status start();
    void send(const base::Endpoint& to, std::span<const uint8_t> datagram) override;
    // Runs due work and re-arms the timer; call after anything that touched the node.
    void rearm();

    dht::Node& node() { return *node_; }
    bool started() const { return node_ != nullptr; }
    const crypto::Identity& identity() const { return identity_; }
    std::vector<base::Endpoint> local_endpoints() const;
    uint64_t send_errors() const;
    size_t key_agreements() const { return auth_.agreements(); }
    void set_after_event(std::function<void()> fn) { after_event_ = std::move(fn); }

private:
    net::Loop& loop_;
    net::RecvBuffer& buf_;
    dht::Decoder& decoder_;
    base::Rng& rng_;
    base::Logger& log_;
    const dht::Config& cfg_;
    crypto::Identity identity_;
    dht::CryptoAuthenticator auth_;
    std::vector<std::unique_ptr<net::UdpSocket>> sockets_;
    std::unique_ptr<net::Timer> timer_;
    std::unique_ptr<dht::Node> node_;
    std::function<void()> after_event_;
};

}  // namespace cli
