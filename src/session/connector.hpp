#pragma once
// Reaching a peer, sans-I/O: the one owner of "can we get a session with P". Per peer it holds
// who wants the session, the attempt in flight (the DHT lookup, the rendezvous, the candidate
// paths being tried), and the backoff between attempts. It never touches a socket: it asks
// ConnectorIo to look up, dial, probe or send, and learns the outcome through the on_*() calls;
// tick() returns its deadline. (The shape of Tailscale's magicsock endpoint and libp2p's DCUtR.)
//
// An attempt (PROTOCOL.md §16.6-16.8):
//   1. look the peer up in the DHT (or take the endpoint the user gave);
//   2. a peer that answers the lookup itself is reachable: dial it (TCP);
//   3. a client is reached through the nodes that keep its presence: a sealed offer (our
//      candidates and a punch key) goes through up to two of them; the peer answers with its
//      candidates and starts punching at once; we start when the answer arrives;
//   4. all paths at once: TCP to the peer's LAN candidates; TCP simultaneous open from our
//      listening port to its public candidates; authenticated UDP probes to every candidate,
//      adopting any endpoint a valid probe really came from (peer-reflexive). A UDP path whose
//      probe was answered carries a session in datagram mode; a TCP session, when it comes,
//      replaces it.
//   4b. when one side's NAT maps per destination (symmetric) and the other's maps one port for
//      all but filters (port-restricted, a firewall), no probe from step 4 can cross: the birthday
//      attempt (PROTOCOL.md §16.9). After birthday_after, the hard side opens up to
//      birthday_sockets sockets and pings the easy side's endpoint from each (a mapping per
//      socket in its NAT); the easy side pings random ports of the hard side's address from its
//      one socket (each opening its filter for that port). The first ping that hits a mapped
//      port is answered, and that path carries the session. birthday_rate packets/s, at most
//      birthday_probes per side and attempt, one attempt per node at a time, birthday_gap apart.
// 5. at once, next to 3 and 4: a circuit through a relay the peer reserved (PROTOCOL.md §17),
//    if the lookup found one. The first message goes over it while the punching goes on.
// It succeeds when a session with the peer comes up by any link, in either direction; it fails
// when every path failed, and reports that at once (ConnectorIo::unreachable, the waiters of
// connect()). A session on a relay answers the waiters but does not end the attempt: a direct
// path that comes up later replaces it (the session table prefers it), and while the session
// stays on the relay the connector tries for a direct path again, upgrade_min doubling to
// upgrade_max apart (Tailscale and DCUtR also start on the relay and upgrade). While someone still wants the peer it retries after a backoff of retry_min
// doubling to retry_max. A live session that ends by accident is redialled; a deliberate end
// (idle, disconnect) is not. Probes are capped per node (probe_rate) and per attempt.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/endpoint.hpp"
#include "base/logger.hpp"
#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "crypto/keys.hpp"
#include "session/close_reason.hpp"
#include "session/link.hpp"
#include "session/offer.hpp"
#include "session/probe.hpp"

namespace session {

using PublicKey = crypto::PublicKey;
// A UDP socket of ours: 0 is the DHT's (the one every candidate names); others are the extra
// sockets of a birthday attempt.
using SocketId = uint32_t;

// Who wants a session with a peer; the connector keeps trying while anyone does.
enum class Want : uint8_t { user = 1, chat = 2 };

// A node that keeps a peer's presence and can pass it an offer.
struct Rendezvous {
    PublicKey id{};
    base::Endpoint endpoint;
    bool relay = false;  // it relays for the peer (the peer reserved it)
};

// What a DHT lookup of the peer's ID found.
struct PeerLookup {
    bool found = false;         // the peer itself answered: it is in routing tables
    base::Endpoint endpoint;    // where it answered from
    size_t messages = 0;        // queries the lookup sent
    size_t answered = 0;        // nodes that answered
    std::vector<Rendezvous> rendezvous;  // nodes that keep its presence, nearest first
    std::optional<base::Endpoint> here;  // where they see it: its NAT's mapping towards them
};

// A rendezvous node's answer to our offer.
struct OfferReply {
    bool ok = false;
    std::string answer;                      // the peer's sealed answer (hex)
    std::optional<base::Endpoint> peer_seen;  // where the rendezvous node sees the peer
    std::string error;
};

// One path tried within an attempt (`ctl connect` reports them).
struct Try {
    base::Endpoint to;
    Path path = Path::tcp;
    Method method = Method::dial;
    LinkId link = 0;
    std::string outcome = "pending";  // "up", "answered", "pending", "cancelled", or why it failed
    base::Duration at{};              // since the attempt began
    base::Duration took{};
};

struct ConnectReport {
    base::Status status;
    base::Duration lookup{}, rendezvous{}, total{};
    std::vector<Try> tried;
    std::vector<Candidate> ours, theirs;  // what the offer and answer carried
    std::optional<LinkInfo> link;         // the session's link, on success
    uint64_t probes = 0;
};
using ConnectDone = std::function<void(const ConnectReport&)>;

class ConnectorIo {
public:
    virtual ~ConnectorIo() = default;
    // The DHT knows someone to ask (a joining node waits for its first contact).
    virtual bool can_look_up() = 0;
    // Answer with Connector::on_lookup.
    virtual void look_up(const PublicKey& peer) = 0;
    // Opens a TCP link to `to` for a session with `peer`; returns its id, or 0 if it failed at
    // once. A failure later comes back as on_attempt_failed, success as on_session_up.
    // `simultaneous`: connect from our listening port (TCP simultaneous open).
    virtual LinkId dial(const PublicKey& peer, const base::Endpoint& to, Method method, bool simultaneous) = 0;
    // A dial of an attempt that has ended: abandon it if its handshake has not begun (a
    // handshake in progress is left to the session table's tie-break).
    virtual void cancel(LinkId link) = 0;
    virtual bool connected(const PublicKey& peer) = 0;
    // For the owner (chat, the prompt): an attempt began; an attempt failed.
    virtual void attempting(const PublicKey& peer) = 0;
    virtual void unreachable(const PublicKey& peer, const std::string& why) = 0;
    // NAT traversal. Our candidates: interface addresses and the public endpoints DHT contacts
    // see, with the port both our UDP socket and TCP listener use.
    virtual std::vector<Candidate> own_candidates() = 0;
    // Sends a sealed offer through `via`; answer with Connector::on_offer_reply.
    virtual void send_offer(const PublicKey& peer, const Rendezvous& via, const std::string& offer) = 0;
    virtual void send_probe(const base::Endpoint& to, std::span<const uint8_t> probe, SocketId from) = 0;
    // A session over the UDP path from our socket `from` to `to`, started from both ends at once
    // (crypto::Session's simultaneous open); returns the link, or 0.
    virtual LinkId open_datagram(const PublicKey& peer, const base::Endpoint& to, Method method, SocketId from) = 0;
    // What our NAT does (told to the peer in offers and answers).
    virtual NatInfo own_nat() { return {}; }
    // A new UDP socket for a birthday attempt (on the DHT socket's address, any port); 0 if none
    // can be had. The host closes it after `lifetime` at the latest, unless a session runs on
    // it; close_socket gives it back sooner (again: unless a session runs on it).
    virtual SocketId open_socket(base::Duration) { return 0; }
    virtual void close_socket(SocketId) {}
    // A session through `relay` (a circuit, then a datagram session over it); returns the link,
    // or 0. A failure later comes back as on_attempt_failed.
    virtual LinkId open_relay(const PublicKey&, const Rendezvous&) { return 0; }
    // The path of the live session with the peer, if there is one.
    virtual std::optional<Path> session_path(const PublicKey& peer) {
        return connected(peer) ? std::optional<Path>{Path::tcp} : std::nullopt;
    }
};

struct ConnectorConfig {
    base::Duration retry_min = std::chrono::seconds(1);
    base::Duration retry_max = std::chrono::seconds(60);
    base::Duration attempt_timeout = std::chrono::seconds(30);  // a safety net: paths time out sooner
    base::Duration dht_poll = std::chrono::milliseconds(100);   // while waiting for a first DHT contact
    base::Duration punch_for = std::chrono::seconds(6);         // probing, after the offer or answer
    base::Duration offer_after = std::chrono::milliseconds(300);  // to a peer that answered its lookup
    base::Duration probe_every = std::chrono::milliseconds(100);  // per candidate
    double probe_rate = 50;                 // probes (pings and pongs) per second from this node, in all
    size_t max_probes_per_attempt = 150;
    size_t rendezvous_fanout = 2;           // presence holders an offer goes through
    bool use_relays = true;                 // open a relay circuit next to the punching
    base::Duration upgrade_min = std::chrono::seconds(10);  // from a relayed session to direct: tries
    base::Duration upgrade_max = std::chrono::minutes(5);   // again this far apart, doubling
    // Birthday punching (step 4b). 256 sockets against 2,000 random ports find a mapped port
    // with a probability of 1 - (1 - 256/64,512)^2,000 ≈ 99.96 % (98 % by 1,000 probes).
    size_t birthday_sockets = 256;   // 0 turns it off
    size_t birthday_probes = 2000;   // packets per side and attempt
    double birthday_rate = 100;      // packets/s per side (home routers crash under floods: c-toxcore #195)
    base::Duration birthday_after = std::chrono::seconds(1);  // ordinary punching first
    base::Duration birthday_for = std::chrono::seconds(20);
    base::Duration birthday_gap = std::chrono::seconds(20);   // from the end of one to the next
};

class Connector {
public:
    Connector(ConnectorIo& io, const crypto::Identity& me, base::Rng& rng, base::Logger& log, ConnectorConfig cfg,
              base::TimePoint now, uint64_t wall_ms);

    // Keep a session with `peer` up (connect now unless backing off; redial when it breaks)
    // until every `why` is released.
    void want(const PublicKey& peer, Want why, base::TimePoint now);
    void release(const PublicKey& peer, Want why, base::TimePoint now);
    bool wanted(const PublicKey& peer) const;
    // One attempt now, reported once to `done`; `via` skips the DHT lookup. If it succeeds, the
    // user wants the peer from then on (a session that breaks is redialled) until a disconnect or
    // an idle close; if it fails, nothing more is tried for the user.
    void connect(const PublicKey& peer, std::optional<base::Endpoint> via, ConnectDone done, base::TimePoint now);

    void on_lookup(const PublicKey& peer, const PeerLookup& r, base::TimePoint now);
    void on_offer_reply(const PublicKey& peer, const OfferReply& r, base::TimePoint now);
    // A peer's offer reached us through a rendezvous node (`seen`: where that node saw the peer).
    // Returns our sealed answer, having started punching towards the peer; nothing to refuse.
    std::optional<std::string> on_offer(const PublicKey& from, const base::Endpoint& seen, const std::string& offer,
                                        base::TimePoint now);
    // A datagram whose first byte is kProbeType, received on our socket `at`.
    void on_probe(const base::Endpoint& from, std::span<const uint8_t> datagram, base::TimePoint now,
                  SocketId at = 0);
    // From the session table: a live session with the peer (any link, either direction).
    void on_session_up(const PublicKey& peer, const LinkInfo& link, base::TimePoint now);
    void on_session_closed(const PublicKey& peer, const Closed& why, base::TimePoint now);
    // A link opened for an attempt failed before its session was up.
    void on_attempt_failed(const PublicKey& peer, LinkId link, const Closed& why, base::TimePoint now);

    base::TimePoint tick(base::TimePoint now);
    // Shutdown: every waiter is told, nothing more is tried.
    void clear(base::TimePoint now);
    // Our addresses changed: every attempt starts again from the new network, at once.
    void network_changed(base::TimePoint now);
    bool attempting(const PublicKey& peer) const;

    struct Stats {
        uint64_t attempts = 0, succeeded = 0, failed = 0, redials = 0;
        uint64_t relayed = 0, relay_failed = 0, upgrades_tried = 0;
        uint64_t offers_sent = 0, offers_answered = 0, offers_refused = 0;
        uint64_t probes_sent = 0, probes_received = 0, probes_dropped = 0, probes_capped = 0;
        uint64_t birthdays = 0, birthday_packets = 0, birthday_sockets = 0, birthday_won = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    // Probing the candidates of one exchange of offer and answer.
    struct Target {
        base::Endpoint to;
        SocketId sock = 0;  // our socket it is probed from
        Method method = Method::punch;
        size_t try_index = 0;  // into the attempt's tries (if it has an attempt)
        base::TimePoint next{};
        bool answered = false;
        bool opened = false;  // a session handshake was started on this path
    };
    struct Birthday {
        bool hard = false;     // we open the sockets; else we probe ports
        base::Endpoint to;     // hard: the easy side's endpoint; easy: the hard side's address
        base::TimePoint start{}, next{};
        std::vector<SocketId> sockets;
        size_t turn = 0;       // hard: the socket that sends next, round robin
        size_t sent = 0;
        std::set<uint16_t> ports;  // easy: ports tried
        base::TimePoint free_before{};  // birthday_free_at_ before this one (given back if it never sent)
        bool no_more_sockets = false;
        bool done = false;
    };
    struct Punch {
        crypto::MessageId nonce{};
        PunchKey key{};
        ProbeTag tag{};
        std::vector<Target> targets;
        base::TimePoint until{};
        size_t probes = 0;
        uint32_t seq = 0;
        bool opened = false;  // a UDP session was started on some path
        std::optional<Birthday> birthday;
    };
    struct Attempt {
        base::TimePoint started{};
        enum class Phase { waiting_dht, lookup, rendezvous, paths } phase = Phase::lookup;
        std::optional<base::Endpoint> via;
        base::Duration lookup{}, rendezvous{};
        std::vector<Try> tried;
        std::set<LinkId> open;  // dials and UDP sessions in flight
        std::set<LinkId> udp;   // of those, the datagram handshakes
        size_t offers_out = 0;  // offers waiting for an answer
        // A peer that answered the lookup is dialled first; the offer waits (for the dial to
        // fail, or offer_after) so that a plain TCP connection wins where it works.
        std::vector<Rendezvous> offer_via;
        base::TimePoint offer_at = base::kNever;
        std::optional<Punch> punch;
        std::vector<Candidate> ours, theirs;
        uint64_t probes = 0;
        std::vector<Rendezvous> relays;  // relays the peer reserved, not yet tried
        std::set<LinkId> relay_links;    // circuits asked for (a subset of `open`)
        std::map<LinkId, Rendezvous> relay_of;  // which relay each circuit went through
        std::optional<Rendezvous> relay_used;   // the relay of the session the waiters were told of
        bool relayed = false;            // a session came up on a relay: the waiters were told
    };
    struct Peer {
        uint8_t wants = 0;
        std::vector<ConnectDone> waiters;
        std::optional<Attempt> attempt;
        std::optional<Punch> answered;  // punching because we answered the peer's offer
        int failures = 0;
        base::TimePoint retry_at{};  // no new attempt before this (kNever: none planned)
        std::optional<base::Endpoint> hint;  // an endpoint the user gave: redials try it again
        bool relayed = false;  // the live session is on a relay: keep trying for a direct path
        int upgrades = 0;      // direct attempts since it went on the relay
    };

    uint64_t wall_ms(base::TimePoint now) const;
    void start_attempt(const PublicKey& key, Peer& p, std::optional<base::Endpoint> via, base::TimePoint now);
    LinkId dial(const PublicKey& key, Peer& p, const base::Endpoint& to, Method method, bool simultaneous,
                base::TimePoint now);
    void send_offers(const PublicKey& key, Peer& p, const std::vector<Rendezvous>& via, base::TimePoint now);
    static void relay_session_lost(Attempt& a);
    static bool relay_lost(const Attempt& a);
    // The next relay of the attempt, if any is left; false if none was opened.
    bool open_relay(const PublicKey& key, Peer& p, base::TimePoint now);
    void relay_up(const PublicKey& key, Peer& p, const LinkInfo& link, base::TimePoint now);
    void start_paths(const PublicKey& key, Peer& p, Punch& punch, const std::vector<Candidate>& theirs,
                     const std::optional<base::Endpoint>& seen, const NatInfo& their_nat, bool birthday,
                     bool we_offered, base::TimePoint now);
    Target& add_target(const PublicKey& key, Peer& p, Punch& punch, const base::Endpoint& to, Method method,
                       base::TimePoint now, SocketId sock = 0);
    void send_probe(Punch& punch, const base::Endpoint& to, bool pong, Attempt* a, base::TimePoint now,
                    SocketId from = 0);
    // Birthday punching (connector_birthday.cpp).
    bool birthday_ready(base::TimePoint now) const;
    static bool birthday_needed(const NatInfo& mine, const NatInfo& theirs);
    void maybe_birthday(const PublicKey& key, Punch& punch, const std::vector<Candidate>& theirs,
                        const std::optional<base::Endpoint>& seen, const NatInfo& their_nat, base::TimePoint now);
    base::TimePoint run_birthday(Punch& punch, Attempt* a, base::TimePoint now);
    void send_ping(Punch& punch, const base::Endpoint& to, Attempt* a, SocketId from);
    void end_birthday(Punch& punch, base::TimePoint now);
    void end_punches(Peer& p, base::TimePoint now);
    base::TimePoint run_punch(const PublicKey& key, Peer& p, Punch& punch, base::TimePoint now);
    void path_answered(const PublicKey& key, Peer& p, Punch& punch, Target& t, base::TimePoint now);
    void open_path(const PublicKey& key, Peer& p, Punch& punch, Target& t);
    // Is `ep` on one of our own public addresses (the same NAT, which does not hairpin)?
    bool behind_our_nat(const base::Endpoint& ep);
    void succeed(const PublicKey& key, Peer& p, const LinkInfo& link, base::TimePoint now);
    void maybe_fail(const PublicKey& key, Peer& p, const std::string& why, base::TimePoint now);
    void fail(const PublicKey& key, Peer& p, const std::string& why, base::TimePoint now);
    void report(Peer& p, const ConnectReport& r);
    ConnectReport report_of(const Attempt& a, base::TimePoint now) const;
    void forget_if_idle(const PublicKey& key);
    bool take_probe_token(base::TimePoint now);

    ConnectorIo& io_;
    const crypto::Identity& me_;
    base::Rng& rng_;
    base::Logger& log_;
    ConnectorConfig cfg_;
    base::TimePoint origin_;
    uint64_t wall_origin_ms_;
    OfferOpener opener_;
    // Answers to recent offers, by nonce: the copy of an offer that came through a second
    // rendezvous node gets the same answer, and starts nothing new.
    std::map<crypto::MessageId, std::string> answers_;
    std::vector<crypto::MessageId> answer_order_;
    std::map<PublicKey, Peer> peers_;
    double probe_tokens_;
    base::TimePoint probe_tokens_at_{};
    base::TimePoint birthday_free_at_{};  // no new birthday attempt before this
    Stats stats_;
};

}  // namespace session
