#pragma once
// Secure sessions over TCP: at most one live session per peer, reused by every caller. The
// protocol (handshake, frames, keepalive timers) is crypto::Session, sans-I/O; this class only
// joins it to sockets and one timer, and keeps the policies that need a clock and a socket:
//   * two nodes that dial each other at once keep the session started by the smaller public key;
//     a new session replacing one older than 3 s (a restarted peer) is always kept;
//   * sessions to peers someone asked for are re-established with backoff (1 s doubling to 60 s)
//     after a failure, not after an idle close or a disconnect();
//   * more than `load_inits_per_s` handshake inits in a second puts the node "under load": inits
//     without a valid cookie then get a cookie reply and cost no DH.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/endpoint.hpp"
#include "base/logger.hpp"
#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "crypto/session.hpp"
#include "net/tcp.hpp"
#include "net/udp_socket.hpp"

namespace net {

struct SessionManagerConfig {
    crypto::SessionConfig session;
    base::Duration reconnect_min = std::chrono::seconds(1);
    base::Duration reconnect_max = std::chrono::seconds(60);
    size_t max_connections = 512;          // inbound connections beyond this are refused
    size_t load_inits_per_s = 100;         // above this, cookies are required
    size_t high_water = size_t{8} << 20;   // send() refuses once this much is queued to a peer
    size_t low_water = size_t{1} << 20;    // on_writable also when the queue falls to this
    base::Duration close_linger = std::chrono::seconds(2);  // to flush a close frame
};

class SessionManager {
public:
    using PublicKey = crypto::PublicKey;
    using Done = std::function<void(base::Status)>;

    SessionManager(Loop& loop, const crypto::SessionKeys& keys, base::Rng& rng, base::Logger& log,
                   SessionManagerConfig cfg = {});
    ~SessionManager();
    SessionManager(const SessionManager&) = delete;
    SessionManager& operator=(const SessionManager&) = delete;

    base::Status listen(const base::Endpoint& at);
    std::vector<base::Endpoint> listening() const;

    // Opens a session to `peer` at `at`, or reuses the live one. `done` runs once: OK when a
    // session is established (in either direction), an error when the attempt failed.
    void connect(const PublicKey& peer, const base::Endpoint& at, Done done);
    // Errc::unavailable without a live session, Errc::limit when the peer is not reading
    // (more than high_water queued; wait for on_writable), Errc::too_large above one frame.
    base::Status send(const PublicKey& peer, std::span<const uint8_t> payload);
    bool connected(const PublicKey& peer) const { return live_.count(peer) > 0; }
    size_t queued_bytes(const PublicKey& peer) const;
    void disconnect(const PublicKey& peer, const std::string& reason);
    void close_all(const std::string& reason);

    // Batching: between cork() and uncork(), frames for a peer go out in one write.
    void cork() { ++corked_; }
    void uncork();

    std::function<void(const PublicKey&, std::span<const uint8_t>)> on_message;
    std::function<void(const PublicKey&)> on_established;
    std::function<void(const PublicKey&, const std::string&)> on_closed;
    std::function<void(const PublicKey&)> on_writable;  // queue emptied, or fell to low_water

    struct PeerInfo {
        PublicKey peer{};
        base::Endpoint remote;
        std::string path = "tcp";
        bool initiator = false;
        base::Duration age{};
        std::optional<base::Duration> rtt;
        uint64_t bytes_in = 0, bytes_out = 0, frames_in = 0, frames_out = 0;
    };
    std::vector<PeerInfo> peers(base::TimePoint now) const;

    struct Stats {
        uint64_t inbound = 0, outbound = 0, established = 0, connect_failures = 0, refused = 0;
        uint64_t duplicates_closed = 0, reconnects = 0, cookies_sent = 0;
        std::map<std::string, uint64_t> closed_by_reason;
    };
    const Stats& stats() const { return stats_; }
    bool under_load(base::TimePoint now);

private:
    struct Conn {
        uint64_t id = 0;
        std::unique_ptr<TcpConnection> tcp;
        std::unique_ptr<crypto::Session> session;
        bool outbound = false;
        PublicKey dialed{};  // outbound: whom we meant to reach
        base::Endpoint remote;
        base::TimePoint since{};
        base::TimePoint linger_until = base::kNever;  // closing: wait for the close frame to go out
        bool dirty = false;
        bool dead = false;
    };
    struct Wanted {
        base::Endpoint at;
        int failures = 0;
        base::TimePoint retry_at = base::kNever;
    };

    Conn& add_conn(std::unique_ptr<TcpConnection> tcp, bool outbound, base::TimePoint now);
    void start_outbound(const PublicKey& peer, const base::Endpoint& at, base::TimePoint now);
    void on_accept(std::unique_ptr<TcpConnection> tcp);
    void wire(Conn& c);
    void report_end(const Conn& c, bool known, const PublicKey& peer, bool was_live, const std::string& reason,
                    base::TimePoint now);
    void on_bytes(uint64_t id, std::span<const uint8_t> bytes);
    void on_tcp_closed(uint64_t id, const std::string& why);
    void drive(Conn& c, base::TimePoint now);
    void flush(Conn& c);
    void established(Conn& c, base::TimePoint now);
    void end(Conn& c, const std::string& reason, base::TimePoint now, bool linger);
    void finish_waiters(const PublicKey& peer, const base::Status& st);
    void attempt_failed(const PublicKey& peer, const std::string& why, base::TimePoint now);
    Conn* find(uint64_t id);
    void on_timer();
    void rearm(base::TimePoint now);
    crypto::ResponderContext responder_context();

    Loop& loop_;
    const crypto::SessionKeys& keys_;
    base::Rng& rng_;
    base::Logger& log_;
    SessionManagerConfig cfg_;
    crypto::CookieJar jar_;
    std::vector<std::unique_ptr<TcpListener>> listeners_;
    std::unique_ptr<Timer> timer_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::unique_ptr<Conn>> conns_;
    std::vector<std::unique_ptr<Conn>> graveyard_;  // destroyed from the timer, never inside a callback
    std::map<PublicKey, uint64_t> live_;
    std::map<PublicKey, std::vector<Done>> waiters_;
    std::map<PublicKey, Wanted> wanted_;
    std::map<PublicKey, uint64_t> init_timestamps_;  // newest init seen per peer (replay check)
    uint64_t last_init_ms_ = 0;
    base::TimePoint load_window_{};
    size_t inits_in_window_ = 0;
    int corked_ = 0;
    Stats stats_;
};

}  // namespace net
