#pragma once
// The α-parallel iterative search shared by find_node, find_value and put (Kademlia §2.3).
// A Lookup only decides: which candidates to ask next, and when it is done. The Node sends the
// queries and feeds the outcomes back, so this class never sees bytes, sockets or clocks.
//
// Termination: the lookup ends when the k closest candidates that have not failed have all
// answered (or no candidate is left to ask). A find_value lookup also ends at the first reply
// that carries values, unless it collects tokens for a put, and a find_node lookup ends as soon
// as the target itself answers.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/time.hpp"
#include "dht/config.hpp"
#include "dht/contact.hpp"
#include "dht/messages.hpp"

namespace dht {

using LookupId = uint64_t;

struct TraceEntry {
    enum class Outcome { pending, reply, error, timeout };
    NodeInfo node;
    int hop = 1;               // 1 = asked from our own table; n+1 = learned from a hop-n reply
    base::Duration sent_at{};  // since the lookup started
    base::Duration rtt{};
    Outcome outcome = Outcome::pending;
    size_t returned = 0;       // contacts in its reply
    size_t closer = 0;         // of those, new candidates closer than it
    size_t values = 0;
};
const char* outcome_name(TraceEntry::Outcome o);

struct LookupResult {
    LookupId id = 0;
    NodeId target;
    bool found = false;   // find_node: the target answered; find_value: a value came back
    int hops = 0;         // hop at which the answer (or the closest responder) was reached
    size_t messages = 0;  // queries sent
    base::Duration duration{};
    std::vector<NodeInfo> closest;      // k closest that answered, nearest first
    std::vector<std::string> tokens;    // parallel to `closest` (find_value only)
    std::vector<ValueRecord> values;
    std::vector<TraceEntry> trace;
    // find_node of a node in client mode: the repliers that keep its presence (they can forward
    // a connect to it), nearest first, and the endpoint they see it at.
    std::vector<NodeInfo> rendezvous;
    std::vector<NodeId> relays;  // of those, the ones that relay for it (PROTOCOL.md §17)
    // mailbox: repliers that left items out ("more"), and how many items they gave
    std::vector<std::pair<NodeInfo, size_t>> more;
    std::optional<base::Endpoint> here;
};
using LookupDone = std::function<void(const LookupResult&)>;

class Lookup {
public:
    enum class Kind { find_node, find_value, mailbox };  // mailbox: mbox_get, values from all k
    Lookup(LookupId id, Kind kind, const NodeId& target, const Config& cfg, base::TimePoint now,
           bool collect_tokens);

    // Adds candidates learned at `hop` (1 for our own table). Skips `self` and known ones.
    // Returns how many were new and closer than `than` (if given).
    size_t add_candidates(const std::vector<NodeInfo>& nodes, int hop, const NodeId& self,
                          const NodeId* than = nullptr);

    // Candidates to query now (marked in flight). Each index stays valid for the lookup's life.
    std::vector<size_t> next_queries(base::TimePoint now);
    // `attempt` is the trace index the query was recorded under.
    void on_reply(size_t idx, size_t attempt, const Message& reply, const NodeId& self, base::Duration rtt);
    void on_error(size_t idx, size_t attempt, base::Duration rtt);
    void on_short_timeout(size_t idx);
    void on_timeout(size_t idx, size_t attempt, base::Duration rtt);
    size_t attempt_of(size_t idx) const { return cand_[idx].trace; }

    bool done() const { return done_; }
    void stop() { done_ = true; }  // the caller has what it wanted
    // Candidates past their short timeout no longer hold the lookup open. For lookups where
    // speed matters more than the last contact (a mailbox put for a peer that just went away,
    // whose own stale entry would otherwise cost a full timeout).
    void set_impatient() { impatient_ = true; }
    LookupResult result(base::TimePoint now) const;
    LookupId id() const { return id_; }
    Kind kind() const { return kind_; }
    const NodeId& target() const { return target_; }
    const NodeInfo& node(size_t idx) const { return trace_[cand_[idx].trace].node; }

private:
    enum class State : uint8_t { fresh, in_flight, slow, responded, failed };
    struct Candidate {
        NodeInfo info;
        int hop;
        State state = State::fresh;
        size_t trace = 0;  // index into trace_ of the latest attempt
        std::string token;
        uint8_t outstanding = 0;  // queries in flight to it
        uint8_t attempts = 0;
    };
    // A candidate that missed its short timeout is asked once more under a new transaction:
    // one lost datagram should not cost a lookup its target.
    static constexpr uint8_t kMaxAttempts = 2;
    static constexpr uint8_t kMaxTargetAttempts = 4;
    void check_done();

    LookupId id_;
    Kind kind_;
    NodeId target_;
    const Config& cfg_;
    base::TimePoint started_;
    bool collect_tokens_;
    bool done_ = false;
    bool impatient_ = false;
    std::vector<Candidate> cand_;      // in insertion order; `order_` sorts them by distance
    std::unordered_set<NodeId, NodeIdHash> known_;  // the IDs in cand_: each reply's 20 are checked
    std::vector<size_t> order_;
    std::vector<TraceEntry> trace_;
    std::vector<ValueRecord> values_;
    std::vector<NodeInfo> rendezvous_;
    std::vector<NodeId> relays_;
    std::vector<std::pair<NodeInfo, size_t>> more_;
    std::optional<base::Endpoint> here_;
    int value_hop_ = 0;
    size_t messages_ = 0;
};

}  // namespace dht
