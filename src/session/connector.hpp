#pragma once
// Reaching a peer, sans-I/O: the one owner of "can we get a session with P". Per peer it holds
// who wants the session, the attempt in flight (the DHT lookup, the candidate paths being tried),
// and the backoff between attempts. It never touches a socket: it asks ConnectorIo to look up,
// dial or send, and learns the outcome through the on_*() calls; tick() returns its deadline.
//
// An attempt: look the peer up in the DHT (or use the endpoint the user gave); dial what the
// lookup found. It succeeds when a session with the peer comes up by any link, in either
// direction; it fails when every path it tried failed, or at `attempt_timeout`. A failed attempt
// is reported at once (ConnectorIo::unreachable, the waiters of connect()) and, while someone
// still wants the peer, retried after a backoff of retry_min doubling to retry_max. A live
// session that ends by accident is redialled; a deliberate end (idle, disconnect) is not.
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

namespace session {

using PublicKey = crypto::PublicKey;

// Who wants a session with a peer; the connector keeps trying while anyone does.
enum class Want : uint8_t { user = 1, chat = 2 };

// What a DHT lookup of the peer's ID found.
struct PeerLookup {
    bool found = false;         // the peer itself answered: it is in routing tables
    base::Endpoint endpoint;    // where it answered from
    size_t messages = 0;        // queries the lookup sent
    size_t answered = 0;        // nodes that answered
};

// One path tried within an attempt (`ctl connect` reports them).
struct Try {
    base::Endpoint to;
    Path path = Path::tcp;
    Method method = Method::dial;
    LinkId link = 0;
    std::string outcome = "pending";  // "up", "pending", "cancelled" or why it failed
    base::Duration at{};              // since the attempt began
    base::Duration took{};
};

struct ConnectReport {
    base::Status status;
    base::Duration lookup{}, total{};
    std::vector<Try> tried;
    std::optional<LinkInfo> link;  // the session's link, on success
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
};

struct ConnectorConfig {
    base::Duration retry_min = std::chrono::seconds(1);
    base::Duration retry_max = std::chrono::seconds(60);
    base::Duration attempt_timeout = std::chrono::seconds(30);  // a safety net: paths time out sooner
    base::Duration dht_poll = std::chrono::milliseconds(100);   // while waiting for a first DHT contact
};

class Connector {
public:
    Connector(ConnectorIo& io, base::Rng& rng, base::Logger& log, ConnectorConfig cfg = {});

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
    // From the session table: a live session with the peer (any link, either direction).
    void on_session_up(const PublicKey& peer, const LinkInfo& link, base::TimePoint now);
    void on_session_closed(const PublicKey& peer, const Closed& why, base::TimePoint now);
    // A link opened for an attempt failed before its session was up.
    void on_attempt_failed(const PublicKey& peer, LinkId link, const Closed& why, base::TimePoint now);

    base::TimePoint tick(base::TimePoint now);
    // Shutdown: every waiter is told, nothing more is tried.
    void clear(base::TimePoint now);
    bool attempting(const PublicKey& peer) const;

    struct Stats {
        uint64_t attempts = 0, succeeded = 0, failed = 0, redials = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Attempt {
        base::TimePoint started{};
        enum class Phase { waiting_dht, lookup, paths } phase = Phase::lookup;
        std::optional<base::Endpoint> via;
        base::Duration lookup{};
        std::vector<Try> tried;
        std::set<LinkId> open;  // dials in flight
    };
    struct Peer {
        uint8_t wants = 0;
        std::vector<ConnectDone> waiters;
        std::optional<Attempt> attempt;
        int failures = 0;
        base::TimePoint retry_at{};  // no new attempt before this (kNever: none planned)
        std::optional<base::Endpoint> hint;  // an endpoint the user gave: redials try it again
    };

    void start_attempt(const PublicKey& key, Peer& p, std::optional<base::Endpoint> via, base::TimePoint now);
    void dial(const PublicKey& key, Peer& p, const base::Endpoint& to, Method method, bool simultaneous,
              base::TimePoint now);
    void succeed(const PublicKey& key, Peer& p, const LinkInfo& link, base::TimePoint now);
    void fail(const PublicKey& key, Peer& p, const std::string& why, base::TimePoint now);
    void report(Peer& p, const ConnectReport& r);
    ConnectReport report_of(const Attempt& a, base::TimePoint now) const;
    void forget_if_idle(const PublicKey& key);

    ConnectorIo& io_;
    base::Rng& rng_;
    base::Logger& log_;
    ConnectorConfig cfg_;
    std::map<PublicKey, Peer> peers_;
    Stats stats_;
};

}  // namespace session
