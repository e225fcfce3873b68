#include "churn.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "sim_world.hpp"

namespace sim {

using namespace std::chrono_literals;

namespace {

// Drives departures and returns; every node's pending event carries the epoch it was made in, so
// that a node taken out of the churn (a sender gone for good, an owner brought back for the last
// check) ignores what was scheduled for it before.
class Churner {
public:
    Churner(World& w, const ChurnConfig& cfg) : w_{w}, cfg_{cfg}, rng_{cfg.seed * 7919 + 13}, nodes_(w.size()) {}

    void start() {
        for (size_t i = cfg_.stable; i < w_.size(); ++i) schedule_departure(i);
    }
    // Node i leaves for good (a sender after its put).
    void retire(size_t i) {
        ++nodes_[i].epoch;
        nodes_[i].retired = true;
        leave(i);
    }
    // Node i comes back now (if away) and stays until the end.
    void hold(size_t i) {
        ++nodes_[i].epoch;
        nodes_[i].retired = true;
        if (!w_.up(i)) come_back(i);
    }
    uint64_t handed_on() const {
        uint64_t n = handed_on_;
        for (size_t i = 0; i < w_.size(); ++i)
            if (w_.up(i)) n += w_.node(i).stats().mailbox_handed_on;
        return n;
    }
    base::TimePoint up_since(size_t i) const { return nodes_[i].up_since; }
    uint64_t departures = 0, returns = 0;
    std::vector<double> sessions_min;

private:
    struct State {
        uint64_t epoch = 0;
        bool retired = false;
        base::TimePoint up_since{};
        std::vector<dht::NodeInfo> saved;
    };
    base::Duration weibull(base::Duration mean) {
        // mean = scale * Gamma(1 + 1/shape)
        double scale = static_cast<double>(mean.count()) / std::tgamma(1.0 + 1.0 / cfg_.shape);
        double u = std::max(rng_.unit(), 1e-12);
        double x = scale * std::pow(-std::log(u), 1.0 / cfg_.shape);
        return base::Duration{static_cast<int64_t>(std::max(x, 1e6))};  // at least a second
    }
    void schedule_departure(size_t i) {
        auto len = weibull(cfg_.mean_session);
        sessions_min.push_back(static_cast<double>(len.count()) / 60e6);
        uint64_t e = nodes_[i].epoch;
        w_.schedule(w_.now() + len, [this, i, e] {
            if (nodes_[i].epoch != e) return;
            leave(i);
            ++departures;
            uint64_t e2 = nodes_[i].epoch;
            w_.schedule(w_.now() + weibull(cfg_.mean_offline), [this, i, e2] {
                if (nodes_[i].epoch != e2) return;
                come_back(i);
                ++returns;
                schedule_departure(i);
            });
        });
    }
    void leave(size_t i) {
        if (!w_.up(i)) return;
        handed_on_ += w_.node(i).stats().mailbox_handed_on;
        auto saved = w_.crash(i);
        // A node that lost every contact while away keeps the list it saved before.
        if (!saved.empty()) nodes_[i].saved = std::move(saved);
    }
    void come_back(size_t i) {
        std::vector<size_t> boot;
        for (size_t k = 0; k < std::min<size_t>(cfg_.stable, 2); ++k) boot.push_back(rng_.uniform(cfg_.stable));
        w_.restart(i, nodes_[i].saved, boot);
        nodes_[i].up_since = w_.now();
    }

    World& w_;
    const ChurnConfig& cfg_;
    base::SeededRng rng_;
    std::vector<State> nodes_;
    uint64_t handed_on_ = 0;
};

// Of the k nodes closest to each of `sample` online nodes, the share in that node's routing table:
// a network that joined well knows its neighbourhoods, or puts and gets land on different nodes.
double neighbours_known(World& w, size_t k, size_t sample, base::SeededRng& rng) {
    std::vector<size_t> online;
    for (size_t i = 0; i < w.size(); ++i)
        if (w.up(i)) online.push_back(i);
    if (online.size() <= k) return 0;
    size_t known = 0, total = 0;
    for (size_t s = 0; s < sample; ++s) {
        size_t x = online[rng.uniform(online.size())];
        const dht::NodeId& me = w.node(x).id();
        auto v = online;
        std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k + 1), v.end(),
                          [&](size_t a, size_t b) { return dht::closer(w.node(a).id(), w.node(b).id(), me); });
        for (size_t j = 1; j <= k; ++j) known += w.node(x).table().find(w.node(v[j]).id()) != nullptr;  // v[0] is x
        total += k;
    }
    return static_cast<double>(known) / static_cast<double>(total);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

ChurnReport run_churn(const ChurnConfig& cfg) {
    auto wall0 = std::chrono::steady_clock::now();
    WorldConfig wc;
    wc.seed = cfg.seed;
    wc.latency = 20ms;
    wc.jitter = 10ms;
    if (!cfg.hand_on) wc.dht.mailbox_republish = std::chrono::hours(24 * 365);
    World w{wc};
    w.spawn(cfg.nodes);
    // The stable nodes found the network through node 0, the rest through one of them each. (Each
    // stable node once joined through itself, so the run began as `stable` separate networks
    // that only merged as returning nodes picked other bootstrap nodes.)
    for (size_t i = 1; i < cfg.nodes; ++i)
        w.schedule_join(i, i < cfg.stable ? 0 : i % cfg.stable, w.now() + 2ms * static_cast<int64_t>(i));
    w.run_for(2ms * static_cast<int64_t>(cfg.nodes) + 60s);
    const base::TimePoint t0 = w.now();
    Churner churn{w, cfg};
    ChurnReport rep;
    base::SeededRng sample_rng{cfg.seed * 131 + 5};
    rep.neighbours_known = neighbours_known(w, wc.dht.k, 50, sample_rng);

    // Distinct roles among the churning nodes: senders, owners, publishers.
    base::SeededRng pick{cfg.seed * 31 + 7};
    std::set<size_t> taken;
    auto draw = [&] {
        for (;;) {
            size_t i = cfg.stable + pick.uniform(cfg.nodes - cfg.stable);
            if (taken.insert(i).second) return i;
        }
    };
    struct Item {
        size_t sender, owner;
        std::string slot;
    };
    std::vector<Item> items;
    for (size_t k = 0; k < cfg.mailbox_items; ++k) items.push_back({draw(), draw(), "item" + std::to_string(k)});
    struct Value {
        size_t publisher;
        dht::Key key;
    };
    std::vector<Value> values;
    for (size_t k = 0; k < cfg.values; ++k)
        values.push_back({draw(), dht::NodeId::hash_of("churn value " + std::to_string(k))});

    // The first (and only) puts; each sender and publisher leaves for good once its put is done.
    for (auto& it : items) {
        size_t s = it.sender;
        w.node(s).mailbox_put(w.node(it.owner).id(), it.slot, "sealed " + it.slot, 7 * 24h - 1min,
                              [&churn, &w, s](const dht::PutResult&) { w.schedule(w.now(), [&churn, s] { churn.retire(s); }); },
                              w.now());
        w.poke(s);
    }
    for (auto& v : values) {
        size_t p = v.publisher;
        w.node(p).put(v.key, "value of " + v.key.short_hex(), 24h,
                      [&churn, &w, p](const dht::PutResult&) { w.schedule(w.now(), [&churn, p] { churn.retire(p); }); },
                      w.now());
        w.poke(p);
    }
    w.run_for(30s);  // the puts finish, and their senders leave, before the churn begins
    churn.start();

    auto up_nodes = [&](base::Duration joined_for) {
        std::vector<size_t> v;
        for (size_t i = 0; i < cfg.nodes; ++i)
            if (w.up(i) && w.now() - churn.up_since(i) >= joined_for) v.push_back(i);
        return v;
    };
    double online_sum = 0;
    size_t rounds = 0;
    // Each check: values by a get from a random online node, mailboxes by their owners' fetch.
    auto check = [&](bool final_check) {
        ChurnCheck c;
        c.at_h = static_cast<double>((w.now() - t0).count()) / 3600e6;
        if (final_check) {
            for (auto& it : items) churn.hold(it.owner);
            w.run_for(3min);  // the owners that were away join again
        }
        c.online = up_nodes(0s).size();
        auto ups = up_nodes(2min);  // joined
        auto found = std::make_shared<std::map<size_t, bool>>();
        for (size_t k = 0; k < items.size(); ++k) {
            size_t o = items[k].owner;
            if (!w.up(o) || w.now() - churn.up_since(o) < 2min) continue;
            ++c.owners_asked;
            std::string slot = items[k].slot;
            w.node(o).mailbox_fetch([found, k, slot](const dht::LookupResult& r) {
                bool got = false;
                for (auto& v : r.values) got = got || v.slot == slot;
                (*found)[k] = got;
            }, w.now());
            w.poke(o);
        }
        auto got_values = std::make_shared<size_t>(0);
        auto asked_values = std::make_shared<size_t>(0);
        if (w.now() - t0 < 24h - 10min && !ups.empty()) {
            for (auto& v : values) {
                size_t from = ups[pick.uniform(ups.size())];
                ++*asked_values;
                w.node(from).get(v.key, [got_values](const dht::LookupResult& r) { *got_values += r.found; }, w.now());
                w.poke(from);
            }
        }
        w.run_for(90s);
        for (auto& [k, ok] : *found) c.owners_found += ok;
        c.owners_asked = found->size();  // owners that left during the fetch are not counted
        c.values_asked = *asked_values;
        c.values_found = *got_values;
        if (final_check) {
            rep.items = items.size();
            rep.items_lost = items.size() - c.owners_found;
        }
        rep.checks.push_back(c);
    };

    // The last check comes before the items' 7-day TTL ends.
    const base::Duration horizon = std::min<base::Duration>(cfg.horizon, 7 * 24h - 10min);
    std::vector<base::Duration> checks;
    for (auto t : cfg.checkpoints)
        if (t < horizon) checks.push_back(t);
    checks.push_back(horizon);
    size_t next_check = 0;
    for (base::Duration step = cfg.lookup_every;; step += cfg.lookup_every) {
        base::Duration t = std::min(step, horizon);  // the last round ends at the horizon
        w.run_until(t0 + t);
        while (next_check < checks.size() && checks[next_check] <= t) {
            check(next_check + 1 == checks.size());
            ++next_check;
        }
        if (next_check == checks.size()) break;
        // Lookups of online nodes (up at least 2 minutes: joined) by online nodes.
        auto ups = up_nodes(2min);
        online_sum += static_cast<double>(up_nodes(0s).size()) / static_cast<double>(cfg.nodes);
        ++rounds;
        if (ups.size() < 2) continue;
        // A lookup whose node left before it finished is not counted either way; one that
        // did not finish on a node still up counts as failed.
        struct Asked {
            size_t from;
            bool done = false, found = false;
        };
        auto asked = std::make_shared<std::vector<Asked>>();
        asked->reserve(cfg.lookups_per_round);
        for (size_t k = 0; k < cfg.lookups_per_round; ++k) {
            size_t from = ups[pick.uniform(ups.size())], to = ups[pick.uniform(ups.size())];
            if (from == to) continue;
            asked->push_back({from});
            size_t idx = asked->size() - 1;
            w.node(from).find_node(w.node(to).id(), [asked, idx](const dht::LookupResult& r) {
                (*asked)[idx].done = true;
                (*asked)[idx].found = r.found;
            }, w.now());
            w.poke(from);
        }
        w.run_for(60s);
        for (auto& a : *asked) {
            if (!a.done && !w.up(a.from)) continue;
            ++rep.lookups;
            rep.lookups_found += a.found;
        }
    }
    rep.departures = churn.departures;
    rep.returns = churn.returns;
    rep.online_fraction = rounds ? online_sum / static_cast<double>(rounds) : 0;
    rep.session_median_min = median(churn.sessions_min);
    double sum = 0;
    for (double s : churn.sessions_min) sum += s;
    rep.session_mean_min = churn.sessions_min.empty() ? 0 : sum / static_cast<double>(churn.sessions_min.size());
    rep.handed_on = churn.handed_on();
    rep.datagrams = w.delivered();
    rep.oversized = w.oversized();
    rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    return rep;
}

}  // namespace sim
