#pragma once
// Heavy-tailed churn over a simulated network (issue #13 §7), shared by the churn simulation test
// and kadchat-bench. Session and offline lengths are Weibull with shape about 0.5, as Stutzbach
// and Rejaie measured in Kad, Gnutella and BitTorrent: most sessions are short, a few last days.
// A node leaves without notice and comes back with what a real node saves (its contacts), not
// with what it held in memory (values, mailbox items). A few stable nodes never leave, as the
// public bootstrap nodes of an operator.
//
// Measured: lookups of online nodes by online nodes; DHT values and mailbox items whose publisher
// or sender went offline for good right after its first put, found again at checkpoints (a
// mailbox by its owner's own fetch, the way the chat layer reads it).
#include <cstdint>
#include <vector>

#include "base/time.hpp"

namespace sim {

struct ChurnConfig {
    size_t nodes = 10000;
    size_t stable = 8;
    double shape = 0.5;
    base::Duration mean_session = std::chrono::hours(2);
    base::Duration mean_offline = std::chrono::hours(2);
    base::Duration horizon = std::chrono::hours(7 * 24);
    size_t mailbox_items = 40;  // each from its own sender, to its own owner
    size_t values = 40;         // each from its own publisher, 24 h TTL
    size_t lookups_per_round = 10;
    base::Duration lookup_every = std::chrono::minutes(30);
    // When values and mailboxes are checked; the last check (at `horizon`, a little before the
    // items' 7-day TTL ends) first brings every owner online.
    std::vector<base::Duration> checkpoints = {std::chrono::hours(1), std::chrono::hours(23),
                                               std::chrono::hours(72)};
    bool hand_on = true;  // holders hand mailbox items on (off: to measure what it buys)
    uint64_t seed = 1;
};

struct ChurnCheck {
    double at_h = 0;
    size_t owners_asked = 0, owners_found = 0;  // owners online that fetched, and found their item
    size_t values_asked = 0, values_found = 0;  // values within their TTL
    size_t online = 0;
};

struct ChurnReport {
    size_t lookups = 0, lookups_found = 0;
    uint64_t departures = 0, returns = 0;
    double online_fraction = 0;  // mean over the lookup rounds
    // After the join, before the churn: of the k closest nodes of 50 sampled nodes, the share
    // in their routing tables.
    double neighbours_known = 0;
    double session_median_min = 0, session_mean_min = 0;
    std::vector<ChurnCheck> checks;
    size_t items = 0, items_lost = 0;  // at the final check, every owner online
    uint64_t handed_on = 0, datagrams = 0, oversized = 0;
    double wall_s = 0;
};

ChurnReport run_churn(const ChurnConfig& cfg);

}  // namespace sim
