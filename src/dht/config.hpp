#pragma once
// Tunables of one DHT node, with the defaults documented in docs/PROTOCOL.md §Parameters.
#include <chrono>
#include <cstddef>

#include "base/time.hpp"
#include "dht/relay.hpp"

namespace dht {

using namespace std::chrono_literals;

struct Config {
    size_t k = 20;                    // bucket size and lookup width
    size_t alpha = 3;                 // parallel requests per lookup
    size_t replacement_cache = 8;     // spare contacts per bucket
    uint8_t max_failures = 3;         // consecutive timeouts before a contact is dropped
    base::Duration short_timeout = 1s;   // lookup stops waiting and widens by one slot
    base::Duration full_timeout = 4s;    // the contact is marked failed
    // A join query unanswered this long is sent again. Shorter than short_timeout: a crowd of
    // nodes starting together overflows the bootstrap node's socket buffer, and the unlucky
    // ones should not lose a second to it. A duplicate costs one datagram.
    base::Duration join_retry = 250ms;
    base::Duration stale_after = 15min;  // a contact not heard from is pinged before eviction
    base::Duration bucket_refresh = 15min;
    // A refresh that fills an empty bucket after joining stops once the bucket holds this many
    // contacts (8: with replies cut to ~11 contacts, 5 left a 600-node crowd one lookup short):
    // routing needs one contact per subtree, a few give redundancy, and a full lookup
    // would cost twice the key agreements.
    size_t refresh_enough = 8;
    base::Duration token_rotation = 5min;  // tokens stay valid for two rotations
    // A query is taken only if the clock time in its txid is within this of ours (PROTOCOL.md
    // §4, freshness); its (sender, txid) is remembered until it would be too old anyway, so the
    // replay memory is sized by time. Beyond replay_capacity entries (~50 bytes each) queries
    // are refused, never forgotten early: forgetting would let a recorded one in again.
    base::Duration query_window = 3min;
    size_t replay_capacity = size_t{1} << 18;
    size_t max_value_size = 768;           // bytes of one value's data: a store fits 1,200 bytes
    size_t max_values = 4096;              // values one node stores in total
    size_t max_values_per_publisher = 64;  // values one node stores for one publisher
    size_t max_values_per_reply = 16;
    base::Duration default_ttl = 1h;
    base::Duration max_ttl = 24h;
    base::Duration republish_interval = 10min;
    // Mailboxes: sealed chat envelopes kept for offline recipients (PROTOCOL.md §8, §14).
    // An item is at most one part (dht/mailbox_parts.hpp: 640 characters of data); a larger
    // message travels as several items: a 4,000-byte message is 13 parts, a 3,000-byte one 10.
    // The quotas count items, so they are ten times what they were for whole messages (the
    // bytes they allow are about the same: ~40 MB per node at most).
    size_t max_mailbox_item = 1024;          // bytes of one item
    size_t max_mailbox_items = 49152;        // items one node keeps in total
    size_t max_items_per_mailbox = 8192;     // items one node keeps for one recipient
    size_t max_items_per_sender = 4096;      // items one node keeps from one sender, all mailboxes
    base::Duration max_mailbox_ttl = 7 * 24h;
    // A holder hands its mailbox items on to the key's current k closest nodes when nobody has
    // refreshed them for this long (Kademlia's republish), so that they outlive their author's
    // absence and the churn of their holders.
    base::Duration mailbox_republish = 1h;
    // A holder that sees a new node among a mailbox's k closest hands that mailbox on after
    // this delay (plus up to as much again, jitter), skipping items handed to it within the gap.
    base::Duration mailbox_handoff_delay = 30s;
    base::Duration mailbox_handoff_gap = 10min;
    base::Duration bootstrap_backoff_min = 1s;
    base::Duration bootstrap_backoff_max = 60s;
    size_t max_lookup_candidates = 0;      // 0 = 4 * k
    size_t max_datagram = 65000;
    // NAT traversal (PROTOCOL.md §16). A node with client_until_reachable marks its messages
    // "ro" (others keep it out of their routing tables) until a NAT check finds it reachable by
    // nodes it never contacted; off, the node is always a full member (a bootstrap node, one
    // with a known public address, simulations).
    bool client_until_reachable = false;
    base::Duration keepalive = 20s;        // announce to the presence nodes: holds the NAT mapping
    size_t presence_nodes = 3;             // closest nodes that keep our presence record
    base::Duration max_presence_ttl = 5min;
    size_t max_presence = 4096;            // presence records one node keeps
    size_t max_presence_per_ip = 16;
    size_t max_forwards = 256;             // rendezvous requests being forwarded at once
    double forward_rate = 10, forward_burst = 20;  // rendezvous and NAT-check requests per source address
    double dialback_rate = 20;             // NAT dial-back pings this node sends per second, in all
    // Datagrams one host, and one /24 (IPv6: /48), may send per second (OpenDHT allows 1,024 per
    // IP); beyond them datagrams are dropped unread and counted (`source_limit`).
    double host_rate = 1024, subnet_rate = 4096;
    // Relays (PROTOCOL.md §17): a reachable node relays for the clients that reserve it; an
    // announcing node asks its presence holders for a reservation.
    bool relay = true;
    RelayLimits relay_limits;
    bool reserve_relay = true;
};

}  // namespace dht
