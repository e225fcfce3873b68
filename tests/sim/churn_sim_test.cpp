// Churn at internet scale (issue #13 §7): 10,000 simulated nodes under Weibull (shape 0.5)
// session and offline lengths (tests/support/churn.hpp) for 2 simulated hours: a 7-day run of
// 10,000 nodes takes over an hour of CPU, so the 7-day figures come from kadchat-bench --churn
// (BENCHMARKS.md). Lookups of online nodes must succeed 99 % of the time, and no mailbox item may
// be lost although its sender went offline for good right after its one put: the holders hand
// items on as the neighbourhood changes. DHT values (their publisher gone; holders do not hand
// values on) must still be found at the first check, an hour in. KC_SIM_SCALE shrinks the
// network under the sanitizers; CHURN_NODES and CHURN_DAYS override.
#include <doctest/doctest.h>

#include <cstdlib>

#include "churn.hpp"

using namespace std::chrono_literals;

namespace {
double env(const char* name, double fallback) {
    const char* s = std::getenv(name);
    return s ? std::strtod(s, nullptr) : fallback;
}
}  // namespace

TEST_CASE("churn sim: 10,000 nodes under Weibull churn: lookups >= 99 %, no mailbox item lost") {
    sim::ChurnConfig c;
    double scale = env("KC_SIM_SCALE", 1.0);
    c.nodes = static_cast<size_t>(env("CHURN_NODES", scale > 0 && scale < 1 ? 10000 * scale : 10000));
    c.horizon = std::chrono::duration_cast<base::Duration>(std::chrono::duration<double, std::ratio<86400>>(
                    env("CHURN_DAYS", 2.0 / 24)));
    c.lookups_per_round = 50;
    c.seed = static_cast<uint64_t>(env("SIM_SEED", 7));
    INFO("SIM_SEED=" << c.seed << " CHURN_NODES=" << c.nodes);
    auto r = sim::run_churn(c);
    MESSAGE("churn: " << c.nodes << " nodes, " << r.departures << " departures, " << r.returns
                      << " returns, online " << r.online_fraction * 100 << " %, session median "
                      << r.session_median_min << " min, mean " << r.session_mean_min
                      << " min; neighbours known after the join " << r.neighbours_known * 100 << " %; lookups "
                      << r.lookups_found << "/" << r.lookups << "; items handed on " << r.handed_on
                      << "; " << r.datagrams << " datagrams; " << r.wall_s << " s");
    for (auto& ck : r.checks)
        MESSAGE("  at " << ck.at_h << " h: " << ck.online << " online; mailboxes " << ck.owners_found << "/"
                        << ck.owners_asked << "; values " << ck.values_found << "/" << ck.values_asked);
    // The network joined as one: each node knows most of its neighbourhood before the churn
    // begins (with 8 separate networks, as the join once made by mistake, about 1 in 8).
    CHECK(r.neighbours_known >= 0.8);
    REQUIRE(r.lookups >= 100);
    CHECK(static_cast<double>(r.lookups_found) / static_cast<double>(r.lookups) >= 0.99);
    CHECK(r.departures > c.nodes);  // the churn was real: more departures than nodes
    REQUIRE(r.items == c.mailbox_items);
    CHECK(r.items_lost == 0);
    REQUIRE_FALSE(r.checks.empty());
    // Before the end a fetch can miss an item that is still held (the lookup under churn did
    // not reach a holder; the 3,000-node run found 23 of 24 at 1 h, and 40 of 40 at the end):
    // most must succeed. What the issue asks, no item lost, is the final check's.
    for (auto& ck : r.checks) CHECK(ck.owners_found * 10 >= ck.owners_asked * 9);
    // Values are not handed on, but within their first holders' lifetime a get must find them:
    // at 1 h, about half of those 20 holders are still online (the partitioned join found 29
    // of 40 in a 2,000-node run).
    REQUIRE(r.checks.front().values_asked > 0);
    CHECK(r.checks.front().values_found * 10 >= r.checks.front().values_asked * 9);
    CHECK(r.oversized == 0);
}
