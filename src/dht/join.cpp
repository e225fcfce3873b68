// Joining the network (Kademlia §2.3, "to join the network, a node u must have a contact to an
// already participating node w"): ask every bootstrap endpoint and saved contact for our own ID,
// look ourselves up, then refresh the empty buckets farther than our closest neighbour. When
// nobody answers, or later every contact is lost, retry with exponential backoff.
#include <algorithm>

#include "dht/node.hpp"

namespace dht {

void Node::set_bootstrap(std::vector<base::Endpoint> endpoints) { bootstrap_ = std::move(endpoints); }

void Node::add_saved_contacts(const std::vector<NodeInfo>& contacts) {
    for (auto& c : contacts)
        if (c.id != self_) saved_contacts_.push_back(c);
}

void Node::join(base::TimePoint now) {
    if (join_in_progress_) return;
    if (bootstrap_.empty() && saved_contacts_.empty() && table_.size() == 0) {
        join_state_ = JoinState::alone;
        next_bootstrap_ = base::kNever;
        return;
    }
    join_in_progress_ = true;
    // A retry after failure stays "isolated" until it succeeds; `ctl id` shows the truth.
    if (join_state_ == JoinState::alone) join_state_ = JoinState::joining;
    ++stats_.bootstrap_attempts;
    join_pending_ = 0;
    join_lookup_ = 0;

    for (auto& ep : bootstrap_) send_join_query(ep, std::nullopt, 1, now);
    for (auto& c : saved_contacts_) send_join_query(c.endpoint, c.id, 1, now);
    for (auto& c : table_.closest(self_, cfg_.alpha)) send_join_query(c.endpoint, c.id, 1, now);
    KC_LOG(log_, info, "dht", "joining: asked %zu bootstrap node(s) and %zu saved contact(s)",
           bootstrap_.size(), saved_contacts_.size());
}

void Node::lan_peer(const NodeInfo& c, base::TimePoint now) {
    if (c.id == self_) return;
    if (join_state_ == JoinState::connected) {
        ping_contact(c, now);  // a reply puts it in the table, like any node we hear from
        return;
    }
    bool known = std::any_of(saved_contacts_.begin(), saved_contacts_.end(), [&](auto& s) { return s.id == c.id; });
    if (!known) saved_contacts_.push_back(c);
    KC_LOG(log_, info, "dht", "found %s on the local link at %s", c.id.short_hex().c_str(),
           c.endpoint.to_string().c_str());
    if (join_in_progress_)
        send_join_query(c.endpoint, c.id, 1, now);
    else
        join(now);
}

// find_node(self) to one bootstrap endpoint or saved contact. An endpoint whose ID we do not know
// first gets a hello (an unauthenticated ping, PROTOCOL.md §2): its MAC'd pong names the ID, and
// the find_node that follows is MAC'd for it like every other query, so that every authenticated
// datagram is bound to its recipient. An unanswered query is sent again after join_retry and
// twice that (then the normal timeouts apply): many nodes starting at once can overflow a
// bootstrap node's socket buffer, and a join should not then wait for a backoff.
void Node::send_join_query(const base::Endpoint& ep, std::optional<NodeId> peer, int attempt,
                           base::TimePoint now) {
    Message q;
    q.method = peer ? Method::find_node : Method::ping;
    q.target = self_;
    ++join_pending_;
    rpc_.send_query(q, ep, peer ? &*peer : nullptr, [this, ep, peer, attempt](const RpcEvent& ev) {
        if (ev.type == RpcEvent::Type::short_timeout) {
            if (attempt < 3 && join_in_progress_) send_join_query(ep, peer, attempt + 1, ev.now);
            return;
        }
        if (ev.type == RpcEvent::Type::reply && !peer) {
            // The pong named the bootstrap node's ID (its MAC proved it): now ask it properly.
            if (join_in_progress_) send_join_query(ep, ev.msg->sender, 1, ev.now);
            --join_pending_;
            return;
        }
        --join_pending_;
        if (ev.type == RpcEvent::Type::reply) {
            if (join_lookup_ == 0) {
                join_lookup_ = start_lookup(
                    Lookup::Kind::find_node, self_, false,
                    [this](const LookupResult& r, base::TimePoint t) { on_join_lookup_done(r, t); }, ev.now);
            }
            auto it = lookups_.find(join_lookup_);
            if (it != lookups_.end()) {
                it->second->add_candidates(ev.msg->nodes, 1, self_);
                pump_lookup(join_lookup_, ev.now);
            }
        } else if (join_pending_ == 0 && join_lookup_ == 0 && join_in_progress_) {
            on_join_lookup_done(LookupResult{}, ev.now);  // every bootstrap query failed
        }
    }, now, attempt < 3 ? cfg_.join_retry * attempt : base::Duration{0});
}

void Node::on_join_lookup_done(const LookupResult& r, base::TimePoint now) {
    join_in_progress_ = false;
    join_lookup_ = 0;
    if (table_.size() == 0) {
        join_state_ = JoinState::isolated;
        bootstrap_backoff_ = bootstrap_backoff_ == base::Duration{0}
                                 ? cfg_.bootstrap_backoff_min
                                 : std::min(bootstrap_backoff_ * 2, cfg_.bootstrap_backoff_max);
        next_bootstrap_ = now + bootstrap_backoff_;
        std::string tried;
        for (auto& ep : bootstrap_) tried += (tried.empty() ? "" : ", ") + ep.to_string();
        KC_LOG(log_, warn, "dht",
               "no bootstrap node answered (tried %s%s%zu saved contact(s)); retrying in %llds",
               tried.c_str(), tried.empty() ? "" : "; ", saved_contacts_.size(),
               static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(bootstrap_backoff_).count()));
        return;
    }
    join_state_ = JoinState::connected;
    bootstrap_backoff_ = base::Duration{0};
    next_bootstrap_ = base::kNever;
    KC_LOG(log_, info, "dht", "joined: %zu contacts after %zu messages", table_.size(), r.messages);
    join_relookups_ = 0;
    schedule_refresh(r, now);
}

void Node::schedule_refresh(const LookupResult& r, base::TimePoint now) {
    join_relookup_at_ = base::kNever;
    if (table_.size() < cfg_.k && join_relookups_ < kMaxRelookups)
        join_relookup_at_ = now + std::chrono::milliseconds(250 << join_relookups_);
    // Refresh the empty buckets farther away than the closest neighbour (Kademlia §2.3) at once:
    // until every subtree we could route into has a contact, lookups that pass through us can
    // dead-end (a thousand nodes started together lost 1 % of lookups with a 1-10 s delay here).
    // A jitter of up to 100 ms keeps a crowd that joined together from refreshing in lockstep.
    if (!r.closest.empty()) {
        join_refresh_cpl_ = common_prefix_length(self_, r.closest.front().id);
        join_refresh_at_ = now + std::chrono::milliseconds(rng_.uniform(100));
    }
}

void Node::refresh_after_join(base::TimePoint now) {
    if (join_relookup_at_ != base::kNever && now >= join_relookup_at_) {
        join_relookup_at_ = base::kNever;
        ++join_relookups_;
        start_lookup(Lookup::Kind::find_node, self_, false,
                     [this](const LookupResult& r, base::TimePoint t) { schedule_refresh(r, t); }, now);
    }
    if (join_refresh_at_ == base::kNever || now < join_refresh_at_) return;
    join_refresh_at_ = base::kNever;
    const auto& buckets = table_.buckets();
    for (int i = 0; i < join_refresh_cpl_ && i < static_cast<int>(buckets.size()); ++i) {
        if (!buckets[static_cast<size_t>(i)].live.empty()) continue;
        LookupId id = start_lookup(Lookup::Kind::find_node, random_with_prefix(self_, i, rng_), false,
                                   [](const LookupResult&, base::TimePoint) {}, now);
        if (lookups_.count(id)) filling_[id] = static_cast<size_t>(i);
    }
}

void Node::bootstrap_tick(base::TimePoint now) {
    if (join_in_progress_) return;
    if (table_.size() == 0 && join_state_ == JoinState::connected) {
        join_state_ = JoinState::isolated;
        next_bootstrap_ = now;
        KC_LOG(log_, warn, "dht", "lost every contact; re-bootstrapping");
    }
    if (join_state_ != JoinState::isolated) return;
    // Isolated, but someone reached us since (a node joining through us): join through it now
    // rather than after the backoff. (Waiting here once left the node isolated for good, and
    // its tick kept returning the passed backoff deadline: a busy loop.)
    if (table_.size() > 0 || now >= next_bootstrap_) join(now);
}

}  // namespace dht
