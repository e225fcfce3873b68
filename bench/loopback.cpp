#include "loopback.hpp"
#include "stats.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/node_host.hpp"
#include "crypto/sodium_rng.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace bench {

namespace {

constexpr size_t kKeys = 20;
dht::Key bench_key(size_t i) { return dht::NodeId::hash_of("bench-" + std::to_string(i % kKeys)); }

// What the threads share. Everything else a shard touches is its own; the only reads across
// threads are node IDs, which never change once the nodes exist.
struct Shared {
    size_t n = 0, lookups = 0, shards = 0;  // only shard 0 looks up
    base::TimePoint t0{};
    std::vector<const dht::NodeId*> ids;
    std::unique_ptr<std::atomic<size_t>[]> ready;  // per shard: nodes with >= 8 good contacts
    std::atomic<bool> stored{false};               // the puts are done: start measuring
    std::atomic<size_t> finished{0};               // shards done measuring
    std::atomic<bool> abort{false};
};

struct Shard {
    size_t index;
    net::Loop loop;
    net::RecvBuffer buf{70000};
    dht::Decoder dec;
    crypto::SodiumRng rng;
    base::StderrLogger log{base::Level::error};
    std::unique_ptr<net::LoopTurn> turn = std::move(*net::LoopTurn::make(loop));  // before the hosts that use it
    std::vector<std::unique_ptr<cli::NodeHost>> hosts;
    // Results, read by the main thread after the join.
    double join_s = -1, half_s = -1, p90_s = -1, p99_s = -1;
    std::vector<double> get_ms, find_ms;
    size_t found = 0, get_found = 0;
    struct Failure { bool get; dht::NodeId target; std::vector<dht::NodeInfo> closest; size_t messages; };
    std::vector<Failure> failures;  // for KC_BENCH_DIAG
    int phase = 0;  // 0 joining, 1 putting (shard 0 only), 2 waiting for the puts, 3 finds, 4 gets, 5 done
    size_t done = 0, puts_done = 0;

    void run(Shared& sh, const dht::Config& cfg);
    size_t total_ready(const Shared& sh) const {
        size_t r = 0;
        for (size_t i = 0; i < sh.shards; ++i) r += sh.ready[i].load();
        return r;
    }
    void next_find(Shared& sh);
    void next_get(Shared& sh);
    void finish(Shared& sh) {
        phase = 5;
        sh.finished.fetch_add(1);
    }
};

void Shard::next_find(Shared& sh) {
    if (done == sh.lookups) {
        done = 0;
        phase = 4;
        next_get(sh);
        return;
    }
    auto& from = hosts[rng.uniform(hosts.size())];
    const dht::NodeId* to = sh.ids[rng.uniform(sh.n)];
    if (*to == from->peek().id()) to = sh.ids[(rng.uniform(sh.n - 1) + 1) % sh.n];
    from->node().find_node(*to, [this, &sh](const dht::LookupResult& r) {
        find_ms.push_back(base::to_ms(r.duration));
        found += r.found;
        if (!r.found) failures.push_back({false, r.target, r.closest, r.messages});
        ++done;
        next_find(sh);
    }, base::steady_now());
}

void Shard::next_get(Shared& sh) {
    if (done == sh.lookups) {
        finish(sh);
        return;
    }
    auto& from = hosts[rng.uniform(hosts.size())];
    from->node().get(bench_key(done + index), [this, &sh](const dht::LookupResult& r) {
        get_ms.push_back(base::to_ms(r.duration));
        get_found += r.found;
        if (!r.found) failures.push_back({true, r.target, r.closest, r.messages});
        ++done;
        next_get(sh);
    }, base::steady_now());
}

void Shard::run(Shared& sh, const dht::Config&) {
    std::unique_ptr<net::Timer> poll;
    auto t = net::Timer::make(loop, [&] {
        auto now = base::steady_now();
        if (sh.abort.load() || sh.finished.load() == sh.shards) {
            loop.stop();
            return;
        }
        if (phase == 0) {
            size_t mine = 0;
            for (auto& h : hosts) mine += h->peek().table().good_contacts(now) >= 8;
            sh.ready[index].store(mine);
            size_t ready = total_ready(sh);
            double el = base::to_ms(now - sh.t0) / 1000.0;
            if (half_s < 0 && ready * 2 >= sh.n) half_s = el;
            if (p90_s < 0 && ready * 10 >= sh.n * 9) p90_s = el;
            if (p99_s < 0 && ready * 100 >= sh.n * 99) p99_s = el;
            if (ready == sh.n) {
                join_s = el;
                phase = 2;
                if (index == 0) {
                    phase = 1;
                    for (size_t k = 0; k < kKeys; ++k) {
                        auto& h = hosts[rng.uniform(hosts.size())];
                        h->node().put(bench_key(k), "value", 1h, [this, &sh](const dht::PutResult&) {
                            if (++puts_done == kKeys) sh.stored.store(true);
                        }, now);
                    }
                }
            } else if (now - sh.t0 > 120s) {
                sh.abort.store(true);
            }
        }
        if (phase <= 2 && sh.stored.load()) {
            // Latency, not throughput: one lookup at a time in the whole process, started from
            // the first shard's nodes (a random half of all nodes); the others only answer.
            phase = 3;
            if (index == 0) {
                next_find(sh);
            } else {
                finish(sh);
            }
        }
        // Polling a thousand tables costs CPU too: every 50 ms while joining, then 5 ms.
        poll->start(phase == 0 ? 50 : 5);
    });
    poll = std::move(*t);
    poll->start(5);
    auto watchdog = net::Timer::make(loop, [&] {
        sh.abort.store(true);
        loop.stop();
    });
    (*watchdog)->start(300000);
    loop.run();
    poll.reset();
    watchdog->reset();
}

// Why a lookup failed in a network that has no churn: where its closest answers rank among
// the true closest nodes, and which of those know the target or hold the value.
void diagnose(const std::vector<std::unique_ptr<Shard>>& shards, const std::vector<cli::NodeHost*>& all) {
    auto now = base::steady_now();
    for (auto& s : shards) {
        for (auto& f : s->failures) {
            std::vector<cli::NodeHost*> order = all;
            std::sort(order.begin(), order.end(), [&](auto* a, auto* b) {
                return dht::closer(a->peek().id(), b->peek().id(), f.target);
            });
            std::fprintf(stderr, "%s %s failed after %zu messages; true closest:\n", f.get ? "get" : "find_node",
                         f.target.short_hex().c_str(), f.messages);
            for (size_t i = 0; i < 24 && i < order.size(); ++i) {
                auto& nd = order[i]->peek();
                bool answered = false;
                for (auto& c : f.closest) answered |= c.id == nd.id();
                bool knows = nd.table().find(f.target) != nullptr;
                size_t held = nd.storage().get(f.target, now, 1).size();
                std::fprintf(stderr, "  #%zu %s answered=%d holds=%zu knows_target=%d table=%zu good=%zu\n", i,
                             nd.id().short_hex().c_str(), answered, held, knows, nd.table().size(),
                             nd.table().good_contacts(now));
            }
            std::fprintf(stderr, "  lookup's closest answers (rank/contacts sharing a longer prefix with the target than the answerer):");
            for (auto& c : f.closest) {
                size_t rank = 0;
                while (rank < order.size() && order[rank]->peek().id() != c.id) ++rank;
                size_t closer_known = 0;
                if (rank < order.size()) {
                    int cpl = dht::common_prefix_length(c.id, f.target);
                    for (auto& ni : order[rank]->peek().table().closest(f.target, 1000))
                        closer_known += dht::common_prefix_length(ni.id, f.target) > cpl;
                }
                std::fprintf(stderr, " %zu/%zu", rank, closer_known);
            }
            std::fprintf(stderr, "\n");
        }
    }
}

}  // namespace

json run_loopback(size_t n, size_t lookups, size_t threads) {
    if (n < 2) return {{"error", "need at least 2 nodes"}};
    threads = std::clamp<size_t>(threads, 1, n);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, n + 256);
    setrlimit(RLIMIT_NOFILE, &rl);

    dht::Config cfg;
    Shared sh;
    sh.n = n;
    sh.shards = threads;
    sh.lookups = lookups;
    sh.ready = std::make_unique<std::atomic<size_t>[]>(threads);
    std::vector<std::unique_ptr<Shard>> shards;
    for (size_t i = 0; i < threads; ++i) {
        shards.push_back(std::make_unique<Shard>());
        shards.back()->index = i;
    }
    std::vector<crypto::Identity> ids;
    for (size_t i = 0; i < n; ++i) ids.push_back(crypto::Identity::generate());
    long rss0 = kib_of("VmRSS:");
    std::vector<cli::NodeHost*> all;
    for (size_t i = 0; i < n; ++i) {
        Shard& s = *shards[i % threads];
        auto h = std::make_unique<cli::NodeHost>(s.loop, *s.turn, s.buf, s.dec, s.rng, s.log, cfg, std::move(ids[i]));
        if (!h->bind(base::Endpoint::v4(127, 0, 0, 1, 0)).ok() || !h->start().ok())
            return {{"error", "cannot bind node " + std::to_string(i)}};
        all.push_back(h.get());
        sh.ids.push_back(&h->peek().id());
        s.hosts.push_back(std::move(h));
    }
    base::Endpoint boot = all[0]->local_endpoints().front();
    sh.t0 = base::steady_now();
    for (size_t i = 1; i < n; ++i) {
        all[i]->node().set_bootstrap({boot});
        all[i]->node().join(sh.t0);
    }
    std::vector<std::thread> workers;
    for (auto& s : shards) workers.emplace_back([&sh, &cfg, sp = s.get()] { sp->run(sh, cfg); });
    for (auto& w : workers) w.join();
    long rss1 = kib_of("VmRSS:");

    std::vector<double> get_ms, find_ms;
    size_t found = 0, get_found = 0;
    double join_s = 1e9, half_s = 1e9, p90_s = 1e9, p99_s = 1e9;
    int phase = 5;
    for (auto& s : shards) {
        get_ms.insert(get_ms.end(), s->get_ms.begin(), s->get_ms.end());
        find_ms.insert(find_ms.end(), s->find_ms.begin(), s->find_ms.end());
        found += s->found;
        get_found += s->get_found;
        // Each shard saw the moment at its own poll; the earliest is the closest to the truth.
        auto earliest = [](double& acc, double v) { acc = v < 0 ? acc : std::min(acc, v); };
        earliest(join_s, s->join_s);
        earliest(half_s, s->half_s);
        earliest(p90_s, s->p90_s);
        earliest(p99_s, s->p99_s);
        phase = std::min(phase, s->phase);
    }
    auto or_missing = [](double v) { return v >= 1e9 ? -1.0 : v; };
    uint64_t timeouts = 0, dropped = 0, send_errors = 0, datagrams = 0, agreements = 0;
    json dropped_by = json::object();
    for (auto* h : all) {
        for (size_t r = 0; r < dht::kDropReasonCount; ++r) {
            auto n_r = h->peek().stats().dropped[r];
            if (n_r == 0) continue;
            const char* name = dht::drop_reason_name(static_cast<dht::DropReason>(r));
            dropped_by[name] = dropped_by.value(name, uint64_t{0}) + n_r;
        }
        agreements += h->key_agreements();
        auto& st = h->peek().stats();
        for (auto& m : st.by_method) timeouts += m.timeouts;
        dropped += st.dropped_total();
        datagrams += st.in.packets;
        send_errors += h->send_errors();
    }
    json out = {{"nodes", n}, {"threads", threads},
                {"join_all_8_good_contacts_s", or_missing(join_s)},
                {"join_50pct_s", or_missing(half_s)}, {"join_90pct_s", or_missing(p90_s)},
                {"join_99pct_s", or_missing(p99_s)},
                {"find_node_success", find_ms.empty() ? 0.0 : static_cast<double>(found) / static_cast<double>(find_ms.size())},
                {"find_node_ms_p50", pct(find_ms, 0.5)},
                {"find_node_ms_p99", pct(find_ms, 0.99)},
                {"get_success", get_ms.empty() ? 0.0 : static_cast<double>(get_found) / static_cast<double>(get_ms.size())},
                {"get_ms_p50", pct(get_ms, 0.5)},
                {"get_ms_p99", pct(get_ms, 0.99)},
                {"bytes_per_node", static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(n)},
                {"phase_reached", phase}, {"timeouts", timeouts}, {"key_agreements", agreements},
                {"dropped", dropped}, {"dropped_by_reason", dropped_by}, {"send_errors", send_errors},
                {"datagrams", datagrams}};
    if (getenv("KC_BENCH_DIAG")) diagnose(shards, all);
    // Hosts close their handles on their own loops; the threads are gone, so this is safe here.
    for (auto& s : shards) s->hosts.clear();
    return out;
}

}  // namespace bench
