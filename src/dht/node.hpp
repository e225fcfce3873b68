#pragma once
// The DHT node: owner of the routing table, RPC layer, lookups, storage and tokens, and the
// dispatch table for incoming queries. Sans-I/O: datagrams and `now` go in through
// on_datagram()/tick(), datagrams leave through the Transport, and tick() returns the next
// deadline. Completion callbacks fire exactly once, always from a later tick(), never inside the
// call that registered them (OpenDHT's dht.h contract).
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <queue>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "dht/auth.hpp"
#include "dht/config.hpp"
#include "dht/lookup.hpp"
#include "dht/mailbox_store.hpp"
#include "dht/messages.hpp"
#include "dht/nat.hpp"
#include "dht/rate_limit.hpp"
#include "dht/routing_table.hpp"
#include "dht/rpc.hpp"
#include "dht/stats.hpp"
#include "dht/storage.hpp"
#include "dht/tokens.hpp"
#include "dht/transport.hpp"

namespace dht {

struct PutResult {
    Key key;
    size_t stored = 0;                 // nodes that confirmed the store, this one included
    bool stored_here = false;          // this node is among the k closest and kept a copy
    size_t attempted = 0;
    std::vector<std::string> errors;   // why nodes refused, or why nothing was attempted
    LookupResult lookup;
};
using PutDone = std::function<void(const PutResult&)>;

// The outcome of asking a rendezvous node to pass an offer to a peer (PROTOCOL.md §16.3).
struct RendezvousResult {
    bool ok = false;
    std::string answer;                      // the peer's sealed answer (hex)
    std::optional<base::Endpoint> peer_seen;  // where the rendezvous node sees the peer
    int error_code = 0;                      // 209 not here, 210 no answer, 211 refused, 212 busy, 0 timeout
    std::string error;
    base::Duration rtt{};
};
using RendezvousDone = std::function<void(const RendezvousResult&)>;
// A peer's offer reached us through a rendezvous node: return the sealed answer, or nothing to
// refuse. `seen` is where the rendezvous node saw the asker.
using OfferHandler = std::function<std::optional<std::string>(const NodeId& from, const base::Endpoint& seen,
                                                               const std::string& offer, base::TimePoint now)>;
// The outcome of asking a relay for a circuit to a peer (PROTOCOL.md §17.2).
struct RelayOpenResult {
    bool ok = false;
    uint64_t circuit = 0;  // ours: the relay forwards what we send with it to the peer
    int error_code = 0;    // 209 no reservation, 210 no answer, 211 refused, 212 busy, 213 no relay, 0 timeout
    std::string error;
};
using RelayOpenDone = std::function<void(const RelayOpenResult&)>;
// A relay we reserved asks us to accept a circuit from `from`; true accepts. Data comes as
// relay datagrams from `relay.endpoint` with `circuit`.
using RelayHandler = std::function<bool(const NodeId& from, const NodeInfo& relay, uint64_t circuit, base::TimePoint now)>;

class Node {
public:
    // REQUIRES: every reference outlives the node. `decoder` may be shared by many nodes.
    Node(const Config& cfg, Authenticator& auth, Transport& transport, Decoder& decoder,
         base::Rng& rng, base::Logger& log, base::TimePoint now);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    void on_datagram(const base::Endpoint& from, std::span<const uint8_t> datagram,
                     base::TimePoint now);
    // Runs due work (timeouts, refresh, republish, expiry, callbacks); returns when to call again.
    base::TimePoint tick(base::TimePoint now);

    // Joining. Bootstrap endpoints have unknown IDs; saved contacts are known from a past run.
    void set_bootstrap(std::vector<base::Endpoint> endpoints);
    void add_saved_contacts(const std::vector<NodeInfo>& contacts);
    void join(base::TimePoint now);
    // A node heard on the local link (dht::LanDiscovery): asked at once, MAC'd to the ID it
    // claims, so only the real node's answer counts. While we are not joined it serves as a
    // bootstrap node (a LAN without internet has no other).
    void lan_peer(const NodeInfo& c, base::TimePoint now);

    LookupId find_node(const NodeId& target, LookupDone done, base::TimePoint now);
    LookupId get(const Key& key, LookupDone done, base::TimePoint now);
    // Stores at the k closest nodes and republishes until `ttl` has passed.
    void put(const Key& key, std::string value, base::Duration ttl, PutDone done,
             base::TimePoint now);

    // Mailboxes (PROTOCOL.md §14). Leaves `value` as item `slot` in `owner`'s mailbox on the k
    // nodes closest to mailbox_key(owner), for `ttl` (at most Config::max_mailbox_ttl), signed
    // by this node as its author. The holders hand it on to new closest nodes (PROTOCOL.md §14),
    // and the sender's outbox puts it again while it is undelivered and the sender is online.
    void mailbox_put(const NodeId& owner, const std::string& slot, std::string value, base::Duration ttl,
                     PutDone done, base::TimePoint now);
    // Collects this node's own mailbox from the k closest nodes: the result's values carry
    // sender (publisher) and slot, its `closest` are the holders to pass to mailbox_remove.
    void mailbox_fetch(LookupDone done, base::TimePoint now);
    // Removes this node's own items from the holders; `done` gets how many holders confirmed.
    void mailbox_remove(const std::vector<NodeInfo>& holders, const std::vector<std::string>& slots,
                        std::function<void(size_t confirmed)> done, base::TimePoint now);
    const MailboxStore& mailboxes() const { return mailboxes_; }

    // NAT traversal (PROTOCOL.md §16).
    // Our interface addresses with our port: what a report of "none" looks like.
    void set_local_addresses(std::vector<base::Endpoint> eps) { nat_.set_local(std::move(eps)); }
    // Wall-clock time minus `now` (the host sets it; simulations share a virtual clock and
    // leave it 0): query txids carry the clock, and stale queries are refused (PROTOCOL.md §4).
    void set_wall_offset(base::Duration d) {
        wall_offset_ = d;
        rpc_.set_wall_offset(d);
    }
    // Our interface addresses changed (PROTOCOL.md §16.10): what we knew of our NAT is void, so
    // the analysis starts over, and the nodes that keep our presence (and relay for us) hear
    // our new endpoint at once rather than at the next keepalive.
    void network_changed(base::TimePoint now);
    // A public address given by the operator (a port forward): reachable without checks.
    void set_public_address(std::optional<base::Endpoint> ep) { nat_.set_public(std::move(ep)); }
    const NatAnalysis& nat() const { return nat_; }
    // A full DHT member (others keep us in their tables), or a client ("ro").
    bool serving() const { return serving_; }
    // Keeping our presence with the nodes closest to our ID (client mode or behind a NAT).
    bool announcing() const;
    const std::vector<NodeInfo>& presence_holders() const { return presence_holders_; }
    size_t presence_records() const { return presence_.size(); }
    void set_offer_handler(OfferHandler h) { offer_handler_ = std::move(h); }
    // Where this node sees `target`, if it keeps its presence: it can forward to it itself.
    std::optional<base::Endpoint> presence_of(const NodeId& target, base::TimePoint now) const;
    // Asks `via` (a node that keeps `target`'s presence) to pass `offer` to it.
    void rendezvous(const NodeInfo& via, const NodeId& target, std::string offer, RendezvousDone done,
                    base::TimePoint now);

    // Relays (PROTOCOL.md §17). We relay when we are a full member and allowed to.
    bool relaying() const { return cfg_.relay && serving_; }
    const Relay& relay() const { return relay_; }
    // The presence holders that granted us a relay reservation.
    std::vector<NodeInfo> relays() const;
    void set_relay_handler(RelayHandler h) { relay_handler_ = std::move(h); }
    // A circuit of ours through `relay` carried a datagram: we keep renewing our reservation
    // with it while it does, even after it stops being one of our closest nodes.
    void relay_used(const NodeInfo& relay, base::TimePoint now);
    // Asks `via` (a relay that `target` reserved) for a circuit to it.
    void relay_open(const NodeInfo& via, const NodeId& target, RelayOpenDone done, base::TimePoint now);
    // A datagram whose first byte is kRelayType that is not for one of our own circuits.
    void on_relay_datagram(const base::Endpoint& from, std::span<const uint8_t> datagram, base::TimePoint now);

    enum class JoinState { alone, joining, connected, isolated };
    JoinState join_state() const { return join_state_; }
    const NodeId& id() const { return self_; }
    const RoutingTable& table() const { return table_; }
    const Stats& stats() const { return stats_; }
    const Storage& storage() const { return *storage_; }
    const Config& config() const { return cfg_; }
    size_t active_lookups() const { return lookups_.size(); }
    // Addresses peers told us they saw our requests come from, with how many said so.
    const std::map<base::Endpoint, uint32_t>& observed() const { return observed_; }
    size_t published_count() const { return published_.size(); }
    base::TimePoint next_bootstrap() const { return next_bootstrap_; }

private:
    using QueryHandler = void (Node::*)(const Message&, const base::Endpoint&, base::TimePoint);
    static const QueryHandler kQueryHandlers[kMethodCount];

    void handle_ping(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_find_node(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_find_value(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_store(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_mbox_put(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_mbox_get(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_mbox_del(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_announce(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_connect(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_nat_check(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_nat_probe(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void handle_relay(const Message& q, const base::Endpoint& from, base::TimePoint now);
    void send_relay_out(const std::vector<RelayOut>& out);
    base::TimePoint relay_tick(base::TimePoint now);
    void forward_connect(const Message& q, const base::Endpoint& from, const base::Endpoint& to, base::TimePoint now);
    base::TimePoint nat_tick(base::TimePoint now);
    void start_nat_check(base::TimePoint now);
    void announce(base::TimePoint now);
    Message reply_to(const Message& q, const base::Endpoint& from) const;
    void send_error(const Message& q, const base::Endpoint& from, int code, std::string msg);

    void drop(DropReason why, const base::Endpoint& from, const std::string& detail);
    // Why a query is refused before its handler (stale, replayed, replay_full), or nullopt.
    std::optional<DropReason> check_fresh(const Message& q, base::TimePoint now);
    void heard_from(const NodeId& id, const base::Endpoint& from, base::TimePoint now,
                    std::optional<base::Duration> rtt, bool read_only = false);
    void ping_contact(const NodeInfo& c, base::TimePoint now);
    void check_move(const NodeInfo& c, base::TimePoint now);
    void contact_failed(const NodeId& id);

    using InternalDone = std::function<void(const LookupResult&, base::TimePoint now)>;
    LookupId start_lookup(Lookup::Kind kind, const NodeId& target, bool collect_tokens,
                          InternalDone on_done, base::TimePoint now);
    void pump_lookup(LookupId id, base::TimePoint now);
    void finish_lookup(LookupId id, base::TimePoint now);
    void stop_if_filled(LookupId id, Lookup& l);
    void defer(std::function<void(base::TimePoint)> fn) { completions_.push_back(std::move(fn)); }

    void on_join_lookup_done(const LookupResult& r, base::TimePoint now);
    void send_join_query(const base::Endpoint& ep, std::optional<NodeId> peer, int attempt,
                         base::TimePoint now);
    void bootstrap_tick(base::TimePoint now);
    void refresh_after_join(base::TimePoint now);
    void schedule_refresh(const LookupResult& r, base::TimePoint now);
    // Sends `q` (a store or mbox_put, token filled in per node) to every node of `r` that gave a
    // token, and keeps a copy here through `keep_here` when this node is among the k closest.
    // Asks `holder` for the mailbox items after the first `skip`, page by page while it says
    // "more", adding them to `into` (which must outlive the fetch); then `then`.
    void fetch_pages(const Key& key, const NodeInfo& holder, size_t skip, size_t pages,
                     std::vector<ValueRecord>& into, std::function<void(base::TimePoint)> then,
                     base::TimePoint now);
    void write_to_closest(Message q, const LookupResult& r, std::function<base::Status(base::TimePoint)> keep_here,
                          base::Duration ttl, PutDone done, base::TimePoint now);
    size_t store_bytes(const Key& key, const std::string& value, base::Duration ttl) const;
    void store_at(const Key& key, const std::string& value, base::Duration ttl,
                  const LookupResult& r, PutDone done, base::TimePoint now);
    void republish_due(base::TimePoint now);
    void hand_on_mailboxes(base::TimePoint now);
    void hand_on(const Key& key, base::TimePoint unrefreshed_since, base::TimePoint now);
    void neighbour_added(const NodeId& id, base::TimePoint now);
    base::TimePoint hand_on_due(base::TimePoint now);

    // Every datagram the node sends passes here: the NAT analysis must know whom we contacted.
    class Outbound final : public Transport {
    public:
        explicit Outbound(Node& n) : node_{n} {}
        void send(const base::Endpoint& to, std::span<const uint8_t> datagram) override;

    private:
        Node& node_;
    };

    const Config& cfg_;
    Authenticator& auth_;
    Transport& transport_;
    base::TimePoint clock_{};  // the latest `now` the node was given (for Outbound)
    NatAnalysis nat_;
    Outbound outbound_{*this};
    Decoder& decoder_;
    base::Rng& rng_;
    base::Logger& log_;
    NodeId self_;
    Stats stats_;
    RoutingTable table_;
    Rpc rpc_;
    TokenIssuer tokens_;
    std::unique_ptr<Storage> storage_;
    MailboxStore mailboxes_;
    // Items this node fetched in parts: slot -> part slots, so that removing the slot removes
    // them all (bounded: cleared past kMaxPartSets; the parts then expire with their TTL).
    std::map<std::string, std::vector<std::string>> part_slots_;
    static constexpr size_t kMaxPartSets = 4096;
    base::TimePoint next_expiry_ = base::kNever;
    base::TimePoint next_handoff_ = base::kNever;  // holder republish of mailbox items
    struct HandoffDue {
        base::TimePoint at, since;  // when to hand on; when the neighbourhood changed
    };
    std::map<Key, HandoffDue> handoff_due_;          // mailboxes whose neighbourhood changed
    std::map<Key, base::TimePoint> handoff_quiet_;   // ... and until when a change is ignored
    static constexpr size_t kMaxHandoffsDue = 1024;

    LookupId next_lookup_id_ = 1;
    std::map<LookupId, std::unique_ptr<Lookup>> lookups_;
    std::map<LookupId, InternalDone> lookup_done_;
    std::vector<std::function<void(base::TimePoint)>> completions_;

    // Replay filter for queries: (sender, txid) pairs, each kept until its txid time is older
    // than Config::query_window (then the query is refused as stale anyway); earliest first.
    std::unordered_set<uint64_t> replay_seen_;
    std::priority_queue<std::pair<base::TimePoint, uint64_t>, std::vector<std::pair<base::TimePoint, uint64_t>>,
                        std::greater<>> replay_expiry_;
    base::Duration wall_offset_{0};

    struct Published {
        std::string value;
        base::TimePoint expires_at;
        base::TimePoint next_republish;
    };
    std::map<Key, Published> published_;

    std::vector<base::Endpoint> bootstrap_;
    std::vector<NodeInfo> saved_contacts_;
    JoinState join_state_ = JoinState::alone;
    bool join_in_progress_ = false;
    size_t join_pending_ = 0;     // bootstrap queries outstanding
    LookupId join_lookup_ = 0;    // the self-lookup of the current join, 0 if none
    base::TimePoint join_refresh_at_ = base::kNever;
    int join_refresh_cpl_ = 0;
    // A node that joins while the network is forming (a crowd started together) may find only
    // a few nodes; it looks itself up again, up to kMaxRelookups times, until it has k contacts.
    static constexpr int kMaxRelookups = 4;
    int join_relookups_ = 0;
    base::TimePoint join_relookup_at_ = base::kNever;
    std::map<LookupId, size_t> filling_;  // refresh lookups after a join -> the bucket they fill
    base::Duration bootstrap_backoff_{};
    base::TimePoint next_bootstrap_ = base::kNever;
    base::TimePoint next_refresh_check_{};
    std::map<base::Endpoint, uint32_t> observed_;
    // A hello (a ping without an authenticator, from a joiner that knows only our address) gets
    // a pong MAC'd for the ID it claims, and changes nothing else (PROTOCOL.md §2).
    void answer_hello(const Message& m, const base::Endpoint& from, size_t size);
    // Endpoints that answered a query of ours, and when: they receive there, so their queries
    // may get replies larger than 3x (bounded; an entry lasts kProvenFor).
    bool receives_at(const base::Endpoint& ep, base::TimePoint now) const;
    std::map<base::Endpoint, base::TimePoint> proven_;
    std::set<NodeId> moving_;  // contacts whose new endpoint is being checked (check_move)
    static constexpr size_t kMaxMoveChecks = 64;
    static constexpr size_t kMaxProven = 8192;
    static constexpr base::Duration kProvenFor = std::chrono::minutes(30);

    // NAT traversal.
    struct Presence {
        base::Endpoint endpoint;  // where we see it: the mapping its announces keep open
        base::TimePoint expires;
        bool relay = false;       // it reserved us as its relay
    };
    std::unordered_map<NodeId, Presence, NodeIdHash> presence_;
    std::vector<NodeInfo> presence_holders_;  // who keeps ours
    base::TimePoint next_announce_ = base::kNever;
    bool serving_ = true;
    OfferHandler offer_handler_;
    size_t forwards_ = 0;
    RateLimiter forward_limit_;
    RateLimiter dialback_limit_;
    RateLimiter host_limit_, subnet_limit_;  // every datagram, per source host and per /24
    Relay relay_;
    std::unordered_set<NodeId, NodeIdHash> relay_granted_;  // holders that relay for us
    struct RelayInUse {
        NodeInfo relay;
        base::TimePoint last;
    };
    std::unordered_map<NodeId, RelayInUse, NodeIdHash> relays_in_use_;
    RelayHandler relay_handler_;
};

const char* join_state_name(Node::JoinState s);

}  // namespace dht
