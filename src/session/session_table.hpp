#pragma once
// Which peer has which session, sans-I/O. The runtime opens links (a TCP connection, a datagram
// path) and feeds them in as (link, bytes, now); the table runs a crypto::Session on each and
// keeps the policy:
//   * one live session per peer, reused by every caller. When a second one is established, a
//     better path wins (TCP over UDP); on the same path both ends keep the session started by
//     the smaller public key, and a new session replacing one older than 3 s (a restarted peer)
//     is always kept;
//   * keepalive, dead-peer and idle timers (crypto::Session's), and a close frame flushed before
//     the link goes (close_linger);
//   * more than `load_inits_per_s` handshake inits in a second puts the node "under load": inits
//     without a valid cookie then get a cookie reply and cost no DH; at most `max_links` links.
// It never dials and never redials: reaching a peer is the Connector's job. Output goes to
// LinkIo (bytes for a link, "close this link") and SessionEvents; tick() returns the next
// deadline. Datagram links carry a ReliableChannel inside the session (PROTOCOL.md §12.8).
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "crypto/session.hpp"
#include "session/close_reason.hpp"
#include "session/link.hpp"
#include "session/reliable.hpp"

namespace session {

using PublicKey = crypto::PublicKey;

// What the table asks of the runtime. Calls never re-enter the table.
class LinkIo {
public:
    virtual ~LinkIo() = default;
    // A stream link's next bytes, in order (the buffer may come back through recycle()).
    virtual void write(LinkId link, std::vector<uint8_t>&& bytes) = 0;
    // One datagram on a datagram link.
    virtual void send_datagram(LinkId link, std::span<const uint8_t> datagram) = 0;
    // Bytes handed to write() and not yet written.
    virtual size_t queued(LinkId link) const = 0;
    // The table is done with the link: close the transport (not from inside its own callback).
    virtual void close(LinkId link) = 0;
};

// What the table tells its owner. Calls may re-enter the table (send, disconnect).
class SessionEvents {
public:
    virtual ~SessionEvents() = default;
    // A peer's live session is up, or moved to another link (an upgrade or a replacement).
    virtual void on_established(const PublicKey& peer, const LinkInfo& link) = 0;
    virtual void on_data(const PublicKey& peer, std::span<const uint8_t> payload) = 0;
    // The peer's live session ended and no other took its place.
    virtual void on_closed(const PublicKey& peer, const Closed& why) = 0;
    // A live session's queue emptied or fell to low water: send() has room again.
    virtual void on_writable(const PublicKey& peer) = 0;
    // A link we opened to reach `peer` ended before its session was established.
    virtual void on_attempt_failed(const PublicKey& peer, LinkId link, const Closed& why) = 0;
};

struct TableConfig {
    crypto::SessionConfig session;
    size_t max_links = 512;                 // inbound links beyond this are refused
    size_t load_inits_per_s = 100;          // above this, cookies are required
    size_t high_water = size_t{8} << 20;    // send() refuses once this much is queued to a peer
    base::Duration close_linger = std::chrono::seconds(2);  // to flush a close frame
    base::Duration simultaneous_window = std::chrono::seconds(3);
    ReliableConfig reliable;
    uint8_t stall_transmissions = 5;  // a datagram session whose segment went this often unanswered ends
};

class SessionTable {
public:
    // `wall_ms` is the wall clock at `now` (handshake timestamps are wall-clock milliseconds);
    // later wall times are derived from `now`, so the table reads no clock.
    SessionTable(const crypto::SessionKeys& keys, base::Rng& rng, base::Logger& log, LinkIo& io,
                 SessionEvents& events, TableConfig cfg, base::TimePoint now, uint64_t wall_ms);
    ~SessionTable();
    SessionTable(const SessionTable&) = delete;
    SessionTable& operator=(const SessionTable&) = delete;

    // A link we opened to reach `peer`: starts the handshake as its initiator. With
    // `simultaneous`, the peer may have opened the same link towards us at the same moment
    // (TCP simultaneous open, both ends of a punched path): both ends send an init, and the one
    // from the smaller key is answered (crypto::Session::connect's `yield`).
    base::Status open_outbound(LinkId link, Path path, const PublicKey& peer, const base::Endpoint& remote,
                               Method method, base::TimePoint now, bool simultaneous = false);
    // A link the peer opened: waits for its init. False (and the link is closed) over capacity.
    bool open_inbound(LinkId link, Path path, const base::Endpoint& remote, Method method, base::TimePoint now);
    void on_bytes(LinkId link, std::span<const uint8_t> bytes, base::TimePoint now);
    // The transport ended (end of stream, reset, a failed write).
    void on_link_down(LinkId link, const std::string& why, base::TimePoint now);
    // The link's queue fell to low water (`drained`: to zero).
    void on_link_writable(LinkId link, bool drained, base::TimePoint now);
    // A buffer from LinkIo::write, written: its memory is reused.
    void recycle(LinkId link, std::vector<uint8_t>&& buffer);

    // Errc::unavailable without a live session, Errc::limit when the peer is not reading
    // (more than high_water queued: wait for on_writable), Errc::too_large above one message.
    base::Status send(const PublicKey& peer, std::span<const uint8_t> payload, base::TimePoint now);
    bool connected(const PublicKey& peer) const { return live_.count(peer) > 0; }
    std::optional<LinkInfo> live_link(const PublicKey& peer) const;
    size_t queued_bytes(const PublicKey& peer) const;
    // Is a handshake with `peer` in progress on some link?
    bool handshaking(const PublicKey& peer) const;
    void disconnect(const PublicKey& peer, Closed why, base::TimePoint now);
    void close_all(Closed why, base::TimePoint now);
    bool has_link(LinkId link) const { return links_.count(link) > 0; }
    // What a link the peer opened turned out to be (the connector punched the same path).
    void set_method(LinkId link, Method method) {
        if (Link* l = find(link)) l->info.method = method;
    }
    void set_via(LinkId link, const PublicKey& relay) {
        if (Link* l = find(link)) l->info.via = relay;
    }

    // Between cork() and uncork(), a link's frames leave in one write. Every input is corked.
    void cork() { ++corked_; }
    void uncork();

    // Runs timers (handshake, keepalive, dead peer, idle, retransmission, linger); returns when
    // to call again.
    base::TimePoint tick(base::TimePoint now);

    struct PeerInfo {
        PublicKey peer{};
        LinkInfo link;
        base::Duration age{};
        std::optional<base::Duration> rtt;
        uint64_t bytes_in = 0, bytes_out = 0, frames_in = 0, frames_out = 0;
        uint64_t retransmits = 0;  // datagram links
    };
    std::vector<PeerInfo> peers(base::TimePoint now) const;

    struct Stats {
        uint64_t inbound = 0, outbound = 0, established = 0, refused = 0;
        uint64_t duplicates_closed = 0, upgrades = 0, cookies_sent = 0;
        std::map<std::string, uint64_t> closed_by_reason;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Link {
        LinkInfo info;
        std::unique_ptr<crypto::Session> session;
        std::unique_ptr<ReliableChannel> reliable;  // datagram links, once established
        PublicKey dialed{};                          // outbound: whom we meant to reach
        base::TimePoint since{};
        base::TimePoint linger_until = base::kNever;  // closing: waiting for the close frame to go out
        Closed local_close;                            // why we closed it, if we did
        bool dirty = false;
    };

    Link* find(LinkId id);
    // A link still handshaking with `peer` (dialed to it, or its init named it).
    static bool handshaking_with(const Link& l, const PublicKey& peer);
    const Link* find(LinkId id) const;
    crypto::ResponderContext responder_context();
    bool under_load();
    uint64_t wall_ms(base::TimePoint now) const;
    void drive(Link& l, base::TimePoint now);
    void flush(Link& l);
    void established(Link& l, base::TimePoint now);
    bool keep_new(const Link& fresh, const Link& old, base::TimePoint now) const;
    void deliver(Link& l, std::span<const uint8_t> payload, base::TimePoint now);
    void end(Link& l, const Closed& why, base::TimePoint now, bool linger);
    void finish(LinkId id);
    Closed closed_of(const Link& l, const std::string& transport_why) const;
    void seal_segments(Link& l, base::TimePoint now);

    const crypto::SessionKeys& keys_;
    base::Rng& rng_;
    base::Logger& log_;
    LinkIo& io_;
    SessionEvents& events_;
    TableConfig cfg_;
    base::TimePoint origin_;
    uint64_t wall_origin_ms_;
    base::TimePoint now_;  // of the call in progress (the responder context reads it)
    crypto::CookieJar jar_;
    std::map<LinkId, std::unique_ptr<Link>> links_;
    std::map<PublicKey, LinkId> live_;
    // Peers whose live session the peer closed as "upgraded" while our end of the better path
    // was still handshaking: on_closed waits for that handshake, and is not said if it succeeds.
    std::map<PublicKey, Closed> upgrading_;
    // Messages a replaced datagram session had not seen acknowledged: sent again on the next
    // live session with that peer (the chat layer dedupes; nothing is lost in the move).
    std::map<PublicKey, std::vector<std::vector<uint8_t>>> carry_;
    std::map<PublicKey, uint64_t> init_timestamps_;  // newest init seen per peer (replay check)
    uint64_t last_init_ms_ = 0;
    base::TimePoint load_window_{};
    size_t inits_in_window_ = 0;
    int corked_ = 0;
    Stats stats_;
};

}  // namespace session
