#pragma once
#include <array>
#include <cstdint>

#include "dht/messages.hpp"

namespace dht {

struct Counter {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    void add(size_t n) {
        ++packets;
        bytes += n;
    }
};

struct MethodStats {
    Counter query_in, query_out, reply_in, reply_out, error_in, error_out;
    uint64_t timeouts = 0;  // full timeouts of our requests
};

struct Stats {
    std::array<MethodStats, kMethodCount> by_method{};
    Counter in, out;  // all datagrams, including dropped ones
    // Queries of a method we do not know (answered with error 204), and those answers: kept apart
    // so that they do not pass for pings.
    Counter unknown_method_in, unknown_method_out;
    std::array<uint64_t, kDropReasonCount> dropped{};
    uint64_t lookups_started = 0, lookups_found = 0, lookups_failed = 0;
    uint64_t short_timeouts = 0;
    uint64_t values_stored = 0, values_refused = 0;
    uint64_t mailbox_stored = 0, mailbox_removed = 0, mailbox_refused = 0;  // refused: removal by a non-owner
    // Mailbox items handed on to new closest nodes (holder republish), and puts refused for a
    // bad item signature or expiry.
    uint64_t mailbox_handed_on = 0, mailbox_bad_item = 0;
    uint64_t bootstrap_attempts = 0;
    // NAT traversal: presence records kept, rendezvous requests forwarded or refused, NAT checks
    // made for others, dial-back pings sent, requests refused by the rate limits.
    uint64_t presence_stored = 0, forwarded = 0, forward_refused = 0, nat_checks_served = 0, dialbacks = 0;
    uint64_t rate_limited = 0;
    uint64_t network_changes = 0;  // our interface addresses changed (§16.10)
    // Queries from addresses that had not answered one of ours (replies cut to 3x their size).
    uint64_t unverified_queries = 0;
    // Hellos answered: pings without an authenticator, from joiners that do not know our ID.
    uint64_t hellos = 0;
    // Routing table: newcomers refused for a full /24 in their bucket; known contacts that spoke
    // from a new endpoint, checked with a ping before they move.
    uint64_t table_crowded = 0, moves_checked = 0;

    uint64_t dropped_total() const {
        uint64_t n = 0;
        for (auto d : dropped) n += d;
        return n;
    }
};

}  // namespace dht
