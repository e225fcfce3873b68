// Joining the network (Kademlia §2.3, "to join the network, a node u must have a contact to an
// already participating node w"): ask every bootstrap endpoint and saved contact for our own ID,
// look ourselves up, then refresh the empty buckets farther than our closest neighbour. When
// nobody answers, or later every contact is lost, retry with exponential backoff.
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

    auto on_reply = [this](const RpcEvent& ev) {
        if (ev.type == RpcEvent::Type::short_timeout) return;
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
        } else if (join_pending_ == 0 && join_lookup_ == 0) {  // every bootstrap query failed
            on_join_lookup_done(LookupResult{}, ev.now);
        }
    };
    Message q;
    q.method = Method::find_node;
    q.target = self_;
    for (auto& ep : bootstrap_) {
        ++join_pending_;
        rpc_.send_query(q, ep, nullptr, on_reply, now);
    }
    for (auto& c : saved_contacts_) {
        ++join_pending_;
        rpc_.send_query(q, c.endpoint, &c.id, on_reply, now);
    }
    for (auto& c : table_.closest(self_, cfg_.alpha)) {  // re-join: our own table still counts
        ++join_pending_;
        rpc_.send_query(q, c.endpoint, &c.id, on_reply, now);
    }
    KC_LOG(log_, info, "dht", "joining: asked %zu bootstrap node(s) and %zu saved contact(s)",
           bootstrap_.size(), saved_contacts_.size());
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
    // Refresh the empty buckets farther away than the closest neighbour (Kademlia §2.3).
    if (!r.closest.empty()) {
        int cpl = common_prefix_length(self_, r.closest.front().id);
        const auto& buckets = table_.buckets();
        for (int i = 0; i < cpl && i < static_cast<int>(buckets.size()); ++i) {
            if (!buckets[static_cast<size_t>(i)].live.empty()) continue;
            start_lookup(Lookup::Kind::find_node, random_with_prefix(self_, i, rng_), false,
                         [](const LookupResult&, base::TimePoint) {}, now);
        }
    }
}

void Node::bootstrap_tick(base::TimePoint now) {
    if (join_in_progress_) return;
    if (table_.size() == 0 && join_state_ == JoinState::connected) {
        join_state_ = JoinState::isolated;
        next_bootstrap_ = now;
        KC_LOG(log_, warn, "dht", "lost every contact; re-bootstrapping");
    }
    if (table_.size() == 0 && join_state_ == JoinState::isolated && now >= next_bootstrap_) join(now);
}

}  // namespace dht
