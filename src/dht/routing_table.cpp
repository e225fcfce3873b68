#include "dht/routing_table.hpp"

#include <algorithm>

namespace dht {

RoutingTable::RoutingTable(const NodeId& self, const Config& cfg) : self_{self}, cfg_{cfg} {
    buckets_.emplace_back();
}

size_t RoutingTable::bucket_index(const NodeId& id) const {
    size_t cpl = static_cast<size_t>(common_prefix_length(self_, id));
    return std::min(cpl, buckets_.size() - 1);
}

Contact* RoutingTable::find_mut(const NodeId& id) {
    auto& b = buckets_[bucket_index(id)];
    for (auto& c : b.live)
        if (c.id == id) return &c;
    return nullptr;
}

const Contact* RoutingTable::find(const NodeId& id) const {
    return const_cast<RoutingTable*>(this)->find_mut(id);
}

void RoutingTable::split_last() {
    size_t last = buckets_.size() - 1;
    buckets_.emplace_back();
    Bucket& old = buckets_[last];
    Bucket& next = buckets_[last + 1];
    next.last_active = old.last_active;
    auto move_deeper = [&](std::vector<Contact>& from, std::vector<Contact>& to) {
        auto it = std::stable_partition(from.begin(), from.end(), [&](const Contact& c) {
            return static_cast<size_t>(common_prefix_length(self_, c.id)) == last;
        });
        to.insert(to.end(), std::make_move_iterator(it), std::make_move_iterator(from.end()));
        from.erase(it, from.end());
    };
    move_deeper(old.live, next.live);
    move_deeper(old.replacements, next.replacements);
    // Refill the shallower bucket from its own replacement cache.
    while (old.live.size() < cfg_.k && !old.replacements.empty()) {
        old.live.push_back(old.replacements.back());
        old.replacements.pop_back();
    }
}

RoutingTable::HeardResult RoutingTable::heard_from(const NodeId& id, const base::Endpoint& ep,
                                                   base::TimePoint now,
                                                   std::optional<base::Duration> rtt) {
    if (id == self_) return {Outcome::self, std::nullopt, std::nullopt};
    if (ep.port == 0 || ep.is_unspecified()) return {Outcome::invalid, std::nullopt, std::nullopt};
    for (;;) {
        size_t idx = bucket_index(id);
        Bucket& b = buckets_[idx];
        b.last_active = now;
        auto it = std::find_if(b.live.begin(), b.live.end(), [&](auto& c) { return c.id == id; });
        if (it != b.live.end()) {
            if (it->endpoint != ep && !rtt) return {Outcome::moved_unproven, std::nullopt, NodeInfo{id, ep}};
            Contact c = *it;
            c.endpoint = ep;  // an answer to our request from there: the key holder has moved
            c.last_seen = now;
            c.failures = 0;
            c.pinging = false;
            if (rtt) c.record_rtt(*rtt);
            b.live.erase(it);
            b.live.push_back(c);  // most recently seen last
            return {Outcome::updated, std::nullopt, std::nullopt};
        }
        if (b.live.size() < cfg_.k) {
            // Exactly k slots: vector growth would leave up to 60 % slack in every full bucket.
            if (b.live.capacity() < cfg_.k) b.live.reserve(cfg_.k);
            Contact c{id, ep, now, rtt.value_or(base::Duration{0}), 0, false};
            b.live.push_back(c);
            std::erase_if(b.replacements, [&](auto& r) { return r.id == id; });
            return {Outcome::added, std::nullopt, std::nullopt};
        }
        if (idx == buckets_.size() - 1 && buckets_.size() < static_cast<size_t>(NodeId::kBits)) {
            split_last();
            continue;
        }
        // Full bucket. Diversity: a newcomer from a /24 (/48) that holds kPerSubnet contacts
        // here already is refused; one from elsewhere takes the place of the newest contact of a
        // /24 holding more (they came in while the bucket had room, which any address may use:
        // a small network where most nodes share a /24 must not leave some unfindable).
        if (crowded(b, ep)) return {Outcome::crowded, std::nullopt, std::nullopt};
        if (auto over = overcrowded(b)) {
            b.live.erase(b.live.begin() + static_cast<std::ptrdiff_t>(*over));
            continue;  // now there is room
        }
        // Otherwise keep the old contacts, remember the newcomer.
        auto r = std::find_if(b.replacements.begin(), b.replacements.end(),
                              [&](auto& c) { return c.id == id; });
        if (r != b.replacements.end()) b.replacements.erase(r);
        if (b.replacements.size() >= cfg_.replacement_cache && !b.replacements.empty())
            b.replacements.erase(b.replacements.begin());
        if (cfg_.replacement_cache > 0) {
            if (b.replacements.capacity() < cfg_.replacement_cache) b.replacements.reserve(cfg_.replacement_cache);
            b.replacements.push_back(Contact{id, ep, now, rtt.value_or(base::Duration{0}), 0, false});
        }
        HeardResult res{Outcome::cached, std::nullopt, std::nullopt};
        Contact& lru = b.live.front();
        bool stale = lru.failures > 0 || now - lru.last_seen > cfg_.stale_after;
        if (stale && !lru.pinging) {
            lru.pinging = true;
            res.ping = lru.info();
        }
        return res;
    }
}

namespace {
bool same_subnet(const base::Endpoint& a, const base::Endpoint& b) {
    if (a.family != b.family) return false;
    size_t n = a.is_v6() ? 6 : 3;  // a /48, a /24
    return std::equal(a.addr.begin(), a.addr.begin() + static_cast<std::ptrdiff_t>(n), b.addr.begin());
}
}  // namespace

// Loopback and private addresses are exempt: a LAN or one test machine holds many nodes, and
// nobody reaches them from outside to fill a table.
bool RoutingTable::crowded(const Bucket& b, const base::Endpoint& ep) const {
    return subnet_count(b, ep) >= kPerSubnet;
}

// Contacts of the bucket in ep's public /24 (/48); 0 for loopback and private addresses.
size_t RoutingTable::subnet_count(const Bucket& b, const base::Endpoint& ep) {
    if (ep.is_loopback() || ep.is_private()) return 0;
    size_t n = 0;
    for (auto& c : b.live) n += same_subnet(c.endpoint, ep);
    return n;
}

// The index of the newest contact of a public /24 (/48) that holds more than kPerSubnet
// contacts of the bucket, if any.
std::optional<size_t> RoutingTable::overcrowded(const Bucket& b) const {
    for (size_t i = b.live.size(); i-- > 0;)
        if (subnet_count(b, b.live[i].endpoint) > kPerSubnet) return i;
    return std::nullopt;
}

bool RoutingTable::failed(const NodeId& id) {
    Bucket& b = buckets_[bucket_index(id)];
    auto it = std::find_if(b.live.begin(), b.live.end(), [&](auto& c) { return c.id == id; });
    if (it == b.live.end()) {
        std::erase_if(b.replacements, [&](auto& r) { return r.id == id; });
        return false;
    }
    it->pinging = false;
    if (it->failures < 255) ++it->failures;
    if (!b.replacements.empty()) {
        b.live.erase(it);
        b.live.insert(b.live.begin(), b.replacements.back());  // not seen by us lately: LRU end
        b.replacements.pop_back();
        return true;
    }
    if (it->failures >= cfg_.max_failures) {
        b.live.erase(it);
        return true;
    }
    return false;
}

void RoutingTable::set_pinging(const NodeId& id, bool v) {
    if (auto* c = find_mut(id)) c->pinging = v;
}

bool RoutingTable::remove(const NodeId& id) {
    Bucket& b = buckets_[bucket_index(id)];
    auto n = std::erase_if(b.live, [&](auto& c) { return c.id == id; });
    return n > 0;
}

std::vector<NodeInfo> RoutingTable::closest(const NodeId& target, size_t n) const {
    // Only the buckets that can hold the n closest are sorted (the call answers every find_node).
    // With t = the target's bucket: bucket t's contacts share more leading bits with the target
    // than any other; those of the buckets after t all differ from it first at bit t; those of a
    // bucket j < t first at bit j. So whole groups, taken in that order, come nearest first, and
    // once n contacts without failures are in, no later group can place one among the n best.
    std::vector<const Contact*> all;
    size_t good = 0;
    auto take = [&](const Bucket& b) {
        for (auto& c : b.live) {
            all.push_back(&c);
            good += c.failures == 0;
        }
    };
    const size_t t = bucket_index(target);
    take(buckets_[t]);
    if (good < n)
        for (size_t j = t + 1; j < buckets_.size(); ++j) take(buckets_[j]);
    for (size_t j = t; j-- > 0 && good < n;) take(buckets_[j]);
    auto better = [&](const Contact* a, const Contact* b) {
        bool fa = a->failures > 0, fb = b->failures > 0;
        if (fa != fb) return !fa;
        return closer(a->id, b->id, target);
    };
    size_t m = std::min(n, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(), better);
    std::vector<NodeInfo> out;
    out.reserve(m);
    for (size_t i = 0; i < m; ++i) out.push_back(all[i]->info());
    return out;
}

std::vector<int> RoutingTable::take_refresh_due(base::TimePoint now, base::Duration interval) {
    std::vector<int> due;
    for (size_t i = 0; i < buckets_.size(); ++i) {
        if (now - buckets_[i].last_active >= interval) {
            due.push_back(static_cast<int>(i));
            buckets_[i].last_active = now;
        }
    }
    return due;
}

void RoutingTable::touch_bucket_for(const NodeId& target, base::TimePoint now) {
    buckets_[bucket_index(target)].last_active = now;
}

size_t RoutingTable::size() const {
    size_t n = 0;
    for (auto& b : buckets_) n += b.live.size();
    return n;
}

size_t RoutingTable::good_contacts(base::TimePoint now) const {
    size_t n = 0;
    for (auto& b : buckets_)
        for (auto& c : b.live)
            if (c.failures == 0 && now - c.last_seen <= cfg_.stale_after) ++n;
    return n;
}

}  // namespace dht
