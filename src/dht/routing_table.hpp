#pragma once
// Kademlia k-buckets over the distance from our own ID.
//
// Deviations from the paper (as libtorrent's routing_table.hpp lists its own):
//  * Buckets are indexed by common prefix length with our ID; only the last bucket (the one that
//    covers our own ID) splits, so the table is a list, not a tree.
//  * Contacts enter only after an authenticated datagram from them: a node named in someone's
//    reply waits until it answers us itself, so nobody can fill our table with fake contacts.
//  * A full bucket keeps its long-lived contacts. The newcomer goes to the replacement cache and
//    the least recently seen contact is pinged if it is stale or has failed; it is evicted only
//    if that ping times out (Kademlia §2.2, "least-recently seen ... evicted only if it fails").
//  * A contact that times out is replaced at once when the bucket has a replacement; otherwise
//    it is dropped after Config::max_failures consecutive timeouts.
#include <optional>
#include <vector>

#include "dht/config.hpp"
#include "dht/contact.hpp"

namespace dht {

struct Bucket {
    std::vector<Contact> live;          // least recently seen first
    std::vector<Contact> replacements;  // most recent last
    base::TimePoint last_active{};
};

class RoutingTable {
public:
    RoutingTable(const NodeId& self, const Config& cfg);

    // moved_unproven: a known contact spoke from another endpoint in a datagram that answered
    // nothing of ours (a query: perhaps recorded and replayed from elsewhere); its endpoint
    // stays, and the caller checks the new one with a ping (`check`). crowded: a full bucket
    // takes no more contacts from a public /24 (IPv6 /48) holding kPerSubnet of it, and a
    // newcomer from elsewhere displaces the extra ones, so one host cannot fill it for good.
    enum class Outcome { added, updated, cached, self, invalid, moved_unproven, crowded };
    static constexpr size_t kPerSubnet = 2;
    struct HeardResult {
        Outcome outcome;
        std::optional<NodeInfo> ping;   // stale contact the caller should ping (full bucket)
        std::optional<NodeInfo> check;  // moved_unproven: the new endpoint to ping
    };
    // An authenticated datagram arrived from (id, endpoint). `rtt` if it answered our request
    // (then a known contact moves to `ep`: the answer proves it).
    HeardResult heard_from(const NodeId& id, const base::Endpoint& ep, base::TimePoint now,
                           std::optional<base::Duration> rtt = std::nullopt);
    // A request to `id` reached its full timeout. Returns true if the contact was removed.
    bool failed(const NodeId& id);
    void set_pinging(const NodeId& id, bool v);
    bool remove(const NodeId& id);

    const Contact* find(const NodeId& id) const;
    // Up to n live contacts closest to target, nearest first; contacts with failures go last.
    std::vector<NodeInfo> closest(const NodeId& target, size_t n) const;
    // Prefix lengths of buckets idle since `now - interval`; marks them active.
    std::vector<int> take_refresh_due(base::TimePoint now, base::Duration interval);
    void touch_bucket_for(const NodeId& target, base::TimePoint now);

    size_t size() const;  // live contacts
    size_t good_contacts(base::TimePoint now) const;  // live, no failures, seen within stale_after
    const std::vector<Bucket>& buckets() const { return buckets_; }
    const NodeId& self() const { return self_; }
    size_t bucket_index(const NodeId& id) const;

private:
    void split_last();
    bool crowded(const Bucket& b, const base::Endpoint& ep) const;
    std::optional<size_t> overcrowded(const Bucket& b) const;
    static size_t subnet_count(const Bucket& b, const base::Endpoint& ep);
    Contact* find_mut(const NodeId& id);

    NodeId self_;
    const Config& cfg_;
    std::vector<Bucket> buckets_;
};

}  // namespace dht
