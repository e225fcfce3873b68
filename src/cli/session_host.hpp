#pragma once
// The thin runtime for sessions: it joins the sans-I/O session::SessionTable (which peer has which
// session) and session::Connector (reaching a peer) to sockets and the DHT. It owns the TCP
// listeners (on the DHT's port, SO_REUSEPORT) and the TCP connections, each one a link of the
// table; UDP paths are links too, over the DHT's own socket (NodeHost hands over every datagram
// that is not a DHT message: probes go to the connector, session messages to the link of their
// source endpoint). A dial the connector asks for is a TCP connect; its lookups, offers and
// the answers to offers go through the DHT node. Both cores run once per loop turn (net::LoopTurn); every entry point here feeds
// one of them and marks the turn. A connection is never destroyed inside its own callback: a
// closed link goes to a graveyard that the next turn empties.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "base/logger.hpp"
#include "cli/node_host.hpp"
#include "net/loop_turn.hpp"
#include "net/tcp.hpp"
#include "session/connector.hpp"
#include "session/session_table.hpp"

namespace cli {

struct SessionHostConfig {
    session::TableConfig table;
    session::ConnectorConfig connector;
    base::Duration connect_timeout = std::chrono::seconds(5);  // a TCP connect that gets no answer
    size_t low_water = size_t{1} << 20;                         // on_writable when the queue falls to this
};

class SessionHost final : public session::LinkIo, public session::SessionEvents, public session::ConnectorIo {
public:
    using PublicKey = crypto::PublicKey;
    // `dht` may be null (tests, benchmarks): then only connects with a `via` endpoint work.
    SessionHost(net::Loop& loop, net::LoopTurn& turn, const crypto::SessionKeys& keys, base::Rng& rng,
                base::Logger& log, NodeHost* dht, SessionHostConfig cfg = {});
    ~SessionHost() override;
    SessionHost(const SessionHost&) = delete;
    SessionHost& operator=(const SessionHost&) = delete;

    base::Status start();
    base::Status listen(const base::Endpoint& at);
    std::vector<base::Endpoint> listening() const;

    // Sessions. send(): Errc::unavailable without a session, Errc::limit at high water (wait for
    // on_writable), Errc::too_large above one message.
    base::Status send(const PublicKey& peer, std::span<const uint8_t> payload);
    bool connected(const PublicKey& peer) override { return table_->connected(peer); }
    size_t queued_bytes(const PublicKey& peer) const { return table_->queued_bytes(peer); }
    void disconnect(const PublicKey& peer, const std::string& detail);
    void close_all();
    // Our addresses changed (PROTOCOL.md §16.10): every session's path leaves from an address,
    // or through a NAT, that is gone. End them all and reach each of those peers again at once,
    // so that the peer's side moves to the new path instead of waiting for its keepalives to fail.
    void network_changed();
    void cork() { table_->cork(); }
    void uncork();
    std::vector<session::SessionTable::PeerInfo> peers() const;
    const session::SessionTable::Stats& stats() const { return table_->stats(); }
    const session::Connector::Stats& connector_stats() const { return connector_->stats(); }
    uint64_t connect_failures() const { return connect_failures_; }
    uint64_t datagrams_dropped() const { return datagrams_dropped_; }
    uint64_t relay_closes() const { return relay_closes_; }  // circuits a relay closed under us

    // A datagram that is not a DHT message, from the DHT's socket (`at` 0) or one of the extra
    // sockets of a birthday attempt; false if it is nothing of ours.
    bool on_datagram(const base::Endpoint& from, std::span<const uint8_t> datagram, session::SocketId at = 0);
    size_t extra_sockets() const { return extra_.size(); }
    // Our candidates (interface addresses, public endpoints), from the runtime.
    std::function<std::vector<session::Candidate>()> candidates;

    // Reaching peers (session::Connector).
    void connect(const PublicKey& peer, std::optional<base::Endpoint> via, session::ConnectDone done);
    void want(const PublicKey& peer, session::Want why);
    void release(const PublicKey& peer, session::Want why);

    // For the owner (chat, the prompt, ctl). `on_up`: a session with the peer is up, or moved
    // to another link; `on_down`: it ended; `on_room`: send() has room again; `on_attempt`: the
    // connector started an attempt; `on_unreachable`: an attempt failed.
    std::function<void(const PublicKey&, std::span<const uint8_t>)> on_message;
    std::function<void(const PublicKey&, const session::LinkInfo&)> on_up;
    std::function<void(const PublicKey&, const session::Closed&)> on_down;
    std::function<void(const PublicKey&)> on_room;
    std::function<void(const PublicKey&)> on_attempt;
    std::function<void(const PublicKey&, const std::string&)> on_unreachable;

private:
    struct Tcp {
        std::unique_ptr<net::TcpConnection> conn;
        PublicKey peer{};
        session::Method method = session::Method::dial;
        bool connecting = false;  // a dial whose TCP connect is in progress
        bool simultaneous = false;
        base::TimePoint deadline = base::kNever;  // of the connect
    };

    base::TimePoint tick(base::TimePoint now);
    void on_accept(std::unique_ptr<net::TcpConnection> conn);
    void on_connected(session::LinkId id, base::Status st);
    void wire(session::LinkId id);
    Tcp* find(session::LinkId id);

    // session::LinkIo
    void write(session::LinkId link, std::vector<uint8_t>&& bytes) override;
    void send_datagram(session::LinkId link, std::span<const uint8_t> datagram) override;
    size_t queued(session::LinkId link) const override;
    void close(session::LinkId link) override;
    // session::SessionEvents
    void on_established(const PublicKey& peer, const session::LinkInfo& link) override;
    void on_data(const PublicKey& peer, std::span<const uint8_t> payload) override;
    void on_closed(const PublicKey& peer, const session::Closed& why) override;
    void on_writable(const PublicKey& peer) override;
    void on_attempt_failed(const PublicKey& peer, session::LinkId link, const session::Closed& why) override;
    // session::ConnectorIo
    bool can_look_up() override;
    void look_up(const PublicKey& peer) override;
    session::LinkId dial(const PublicKey& peer, const base::Endpoint& to, session::Method method,
                         bool simultaneous) override;
    void cancel(session::LinkId link) override;
    void attempting(const PublicKey& peer) override;
    void unreachable(const PublicKey& peer, const std::string& why) override;
    std::vector<session::Candidate> own_candidates() override;
    void send_offer(const PublicKey& peer, const session::Rendezvous& via, const std::string& offer) override;
    void send_probe(const base::Endpoint& to, std::span<const uint8_t> probe, session::SocketId from) override;
    session::LinkId open_datagram(const PublicKey& peer, const base::Endpoint& to, session::Method method,
                                  session::SocketId from) override;
    session::NatInfo own_nat() override;
    // The extra sockets of birthday attempts (session_sockets.cpp).
    session::SocketId open_socket(base::Duration lifetime) override;
    void close_socket(session::SocketId s) override;
    void retire_socket_if_unused(session::SocketId s);
    base::TimePoint expire_sockets(base::TimePoint now);
    void send_on(session::SocketId s, const base::Endpoint& to, std::span<const uint8_t> d);
    session::LinkId open_relay(const PublicKey& peer, const session::Rendezvous& relay) override;
    std::optional<session::Path> session_path(const PublicKey& peer) override;
    // Relay circuits of our own (session_relay.cpp).
    bool accept_circuit(const dht::NodeId& from, const dht::NodeInfo& relay, uint64_t circuit, base::TimePoint now);
    bool on_relay_datagram(const base::Endpoint& from, std::span<const uint8_t> d, base::TimePoint now);
    void close_relay(session::LinkId link);

    net::Loop& loop_;
    net::LoopTurn& turn_;
    const crypto::SessionKeys& keys_;
    base::Rng& rng_;
    base::Logger& log_;
    NodeHost* dht_;
    SessionHostConfig cfg_;
    std::unique_ptr<session::SessionTable> table_;
    std::unique_ptr<session::Connector> connector_;
    std::unique_ptr<net::LoopTurn::Core> core_;
    std::vector<std::unique_ptr<net::TcpListener>> listeners_;
    std::map<session::LinkId, Tcp> tcp_;
    struct UdpPath {
        session::SocketId sock = 0;  // ours: 0 the DHT's socket
        base::Endpoint to;
    };
    std::map<session::LinkId, UdpPath> udp_;  // datagram links: where they go
    std::map<std::pair<session::SocketId, base::Endpoint>, session::LinkId> udp_by_ep_;
    struct Extra {
        std::unique_ptr<net::UdpSocket> socket;
        base::TimePoint until = base::kNever;  // closed then, unless a session runs on it
        bool released = false;                 // the connector is done with it
    };
    std::map<session::SocketId, Extra> extra_;
    std::vector<std::unique_ptr<net::UdpSocket>> dead_sockets_;  // closed outside their callbacks
    session::SocketId next_socket_ = 1;
    struct Circuit {
        PublicKey peer{};
        dht::NodeInfo relay;
        uint64_t id = 0;  // 0 until the relay gave it
        bool ours = false;  // through a relay we reserved (the peer asked for it)
    };
    std::map<session::LinkId, Circuit> circuits_;  // relayed links
    std::map<std::pair<base::Endpoint, uint64_t>, session::LinkId> circuit_links_;
    uint64_t relay_closes_ = 0;
    uint64_t datagrams_dropped_ = 0;
    std::vector<std::unique_ptr<net::TcpConnection>> graveyard_;
    size_t freed_ = 0;  // connections freed since the last malloc_trim
    base::TimePoint trim_at_ = base::kNever;  // when the heap is trimmed, once frees have stopped
    session::LinkId next_link_ = 1;
    uint64_t connect_failures_ = 0;
    bool closing_ = false;
};

}  // namespace cli
