#include "dht/lookup.hpp"

#include <algorithm>

namespace dht {

const char* outcome_name(TraceEntry::Outcome o) {
    switch (o) {
        case TraceEntry::Outcome::pending: return "pending";
        case TraceEntry::Outcome::reply: return "reply";
        case TraceEntry::Outcome::error: return "error";
        case TraceEntry::Outcome::timeout: return "timeout";
    }
    return "?";
}

Lookup::Lookup(LookupId id, Kind kind, const NodeId& target, const Config& cfg, base::TimePoint now,
               bool collect_tokens)
    : id_{id}, kind_{kind}, target_{target}, cfg_{cfg}, started_{now}, collect_tokens_{collect_tokens} {}

size_t Lookup::add_candidates(const std::vector<NodeInfo>& nodes, int hop, const NodeId& self,
                              const NodeId* than) {
    size_t max = cfg_.max_lookup_candidates ? cfg_.max_lookup_candidates : 4 * cfg_.k;
    size_t closer_count = 0;
    for (auto& n : nodes) {
        if (n.id == self) continue;
        if (known_.count(n.id)) continue;
        auto pos = std::lower_bound(order_.begin(), order_.end(), n.id, [&](size_t i, const NodeId& id) {
            return closer(cand_[i].info.id, id, target_);
        });
        if (order_.size() >= max && pos == order_.end()) continue;  // farther than all we keep
        if (than && closer(n.id, *than, target_)) ++closer_count;
        cand_.push_back(Candidate{n, hop, State::fresh, 0, {}});
        known_.insert(n.id);
        order_.insert(pos, cand_.size() - 1);
        if (order_.size() > max) {
            // Drop the farthest fresh candidate; ones already asked stay for the trace.
            for (auto it = order_.end(); it != order_.begin();) {
                --it;
                if (cand_[*it].state == State::fresh) {
                    order_.erase(it);
                    break;
                }
            }
        }
    }
    return closer_count;
}

std::vector<size_t> Lookup::next_queries(base::TimePoint now) {
    std::vector<size_t> out;
    if (done_) return out;
    size_t active = 0;
    for (auto i : order_)
        if (cand_[i].state == State::in_flight) ++active;
    size_t considered = 0;
    for (auto i : order_) {
        if (active >= cfg_.alpha || considered >= cfg_.k) break;
        Candidate& c = cand_[i];
        if (c.state == State::failed || (impatient_ && c.state == State::slow)) continue;
        ++considered;
        // The target of a node lookup is the answer itself: one lost datagram each way must not
        // lose it, so it is asked more often than a contact on the way.
        uint8_t limit = kind_ == Kind::find_node && c.info.id == target_ ? kMaxTargetAttempts : kMaxAttempts;
        bool retry = c.state == State::slow && c.attempts < limit;
        if (c.state != State::fresh && !retry) continue;
        c.state = State::in_flight;
        c.trace = trace_.size();
        ++c.outstanding;
        ++c.attempts;
        trace_.push_back(TraceEntry{c.info, c.hop, now - started_});
        ++messages_;
        ++active;
        out.push_back(i);
    }
    if (out.empty()) check_done();
    return out;
}

void Lookup::on_reply(size_t idx, size_t attempt, const Message& reply, const NodeId& self,
                      base::Duration rtt) {
    Candidate& c = cand_[idx];
    if (c.outstanding) --c.outstanding;
    TraceEntry& t = trace_[attempt];
    t.outcome = TraceEntry::Outcome::reply;
    t.rtt = rtt;
    t.returned = reply.nodes.size();
    t.values = reply.values.size();
    if (c.state == State::responded) return;  // the other attempt answered first
    c.state = State::responded;
    c.token = reply.token;
    if (reply.more) more_.emplace_back(c.info, reply.values.size());
    int hop = c.hop;
    NodeId replier = c.info.id;  // `c` may move when candidates are added
    if (reply.here) {
        rendezvous_.push_back(c.info);
        if (reply.relay) relays_.push_back(c.info.id);
        here_ = reply.here;
    }
    size_t closer_count = add_candidates(reply.nodes, hop + 1, self, &replier);
    trace_[attempt].closer = closer_count;
    // Looking for a node: once it answers in person, the search is over.
    if (kind_ == Kind::find_node && replier == target_) done_ = true;
    if (kind_ != Kind::find_node && !reply.values.empty()) {
        for (auto& v : reply.values) {
            bool dup = std::any_of(values_.begin(), values_.end(), [&](auto& x) {
                return x.publisher == v.publisher && x.slot == v.slot && x.data == v.data;
            });
            if (!dup) values_.push_back(v);
        }
        if (value_hop_ == 0) value_hop_ = hop;
        if (!collect_tokens_) done_ = true;
    }
    check_done();
}

void Lookup::on_error(size_t idx, size_t attempt, base::Duration rtt) {
    Candidate& c = cand_[idx];
    if (c.outstanding) --c.outstanding;
    trace_[attempt].outcome = TraceEntry::Outcome::error;
    trace_[attempt].rtt = rtt;
    if (c.state != State::responded) c.state = State::failed;
    check_done();
}

void Lookup::on_short_timeout(size_t idx) {
    // Stop counting it against α: the next call to next_queries widens by one slot, and asks
    // this candidate again if it has attempts left.
    if (cand_[idx].state == State::in_flight) cand_[idx].state = State::slow;
    if (impatient_) check_done();
}

void Lookup::on_timeout(size_t idx, size_t attempt, base::Duration rtt) {
    Candidate& c = cand_[idx];
    if (c.outstanding) --c.outstanding;
    trace_[attempt].outcome = TraceEntry::Outcome::timeout;
    trace_[attempt].rtt = rtt;
    if (c.state != State::responded && c.outstanding == 0) c.state = State::failed;
    check_done();
}

void Lookup::check_done() {
    if (done_) return;
    size_t considered = 0;
    bool waiting = false;
    for (auto i : order_) {
        if (considered >= cfg_.k) break;
        const Candidate& c = cand_[i];
        if (c.state == State::failed || (impatient_ && c.state == State::slow)) continue;
        ++considered;
        if (c.state != State::responded) waiting = true;
    }
    if (!waiting) done_ = true;
}

LookupResult Lookup::result(base::TimePoint now) const {
    LookupResult r;
    r.id = id_;
    r.target = target_;
    r.messages = messages_;
    r.duration = now - started_;
    r.trace = trace_;
    r.values = values_;
    r.here = here_;
    r.relays = relays_;
    r.more = more_;
    for (auto i : order_)  // nearest first
        for (auto& n : rendezvous_)
            if (n.id == cand_[i].info.id) r.rendezvous.push_back(n);
    int closest_hop = 0;
    for (auto i : order_) {
        const Candidate& c = cand_[i];
        if (c.state != State::responded) continue;
        if (r.closest.empty()) closest_hop = c.hop;
        if (r.closest.size() < cfg_.k) {
            r.closest.push_back(c.info);
            r.tokens.push_back(c.token);
        }
        if (kind_ == Kind::find_node && c.info.id == target_) {
            r.found = true;
            closest_hop = c.hop;
        }
    }
    if (kind_ != Kind::find_node) {
        r.found = !values_.empty();
        r.hops = r.found ? value_hop_ : closest_hop;
    } else {
        r.hops = closest_hop;
    }
    return r;
}

}  // namespace dht
