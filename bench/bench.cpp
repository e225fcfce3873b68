// kadchat-bench: DHT figures from simulated networks (virtual time) and from real nodes on
// loopback (one process, one libuv loop per thread, real sockets and crypto). Prints a table, or --json.
// Each simulated size runs in a forked child so that its peak memory is its own.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/keys.hpp"
#include "loopback.hpp"
#include "stats.hpp"
#include "session_bench.hpp"
#include "chat_bench.hpp"
#include "relay_bench.hpp"
#include "churn.hpp"
#include "sim_world.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

using bench::kib_of;
using bench::pct;

const char kUsage[] = R"(Usage: kadchat-bench [--sim=N,N,...] [--loopback=N] [--lookups=N] [--threads=T] [--sessions=S] [--chat=N] [--relay=S] [--churn=N:D,...] [--seed=S] [--json]
  --sim=LIST      simulated network sizes [default: 1000,10000,100000]; "none" to skip
  --loopback=N    real nodes on 127.0.0.1 in this process [default: 1000]; 0 to skip
  --lookups=N     lookups (and gets) measured per network [default: 500]
  --threads=T     loopback: event loops, one thread each, nodes spread evenly [default: 2]
  --sessions=S    secure-session figures, S seconds each [default: 2]; 0 to skip
  --chat=N        chat figures with N messages each [default: 1000]; 0 to skip
  --relay=S       relay figures on loopback, S seconds each (1 and 64 circuits) [default: 2]; 0 to skip
  --churn=LIST    churn simulations, NODES:DAYS each (":off" after DAYS: holders do not hand
                  mailbox items on) [default: none]; hours of CPU for large ones
  --seed=S        simulation seed [default: 1]
  --json          one JSON document instead of tables
)";

double wall_s(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

json run_churn(const std::string& spec, uint64_t seed) {
    sim::ChurnConfig c;
    c.seed = seed;
    size_t colon = spec.find(':');
    c.nodes = std::stoul(spec.substr(0, colon));
    double days = colon == std::string::npos ? 7.0 : std::stod(spec.substr(colon + 1));
    c.hand_on = spec.find(":off") == std::string::npos;
    // 10 lookups a round up to 10,000 nodes; more in larger networks, whose runs are short in
    // simulated time and would otherwise measure too few.
    c.lookups_per_round = std::max<size_t>(10, c.nodes / 1000);
    c.horizon = std::chrono::duration_cast<base::Duration>(std::chrono::duration<double, std::ratio<86400>>(days)) -
                std::chrono::minutes(10);
    auto r = sim::run_churn(c);
    json checks = json::array();
    for (auto& k : r.checks)
        checks.push_back({{"at_h", k.at_h}, {"online", k.online}, {"mailboxes_asked", k.owners_asked},
                          {"mailboxes_found", k.owners_found}, {"values_asked", k.values_asked},
                          {"values_found", k.values_found}});
    return {{"nodes", c.nodes}, {"days", days}, {"hand_on", c.hand_on}, {"departures", r.departures},
            {"returns", r.returns}, {"online_fraction", r.online_fraction}, {"neighbours_known", r.neighbours_known},
            {"session_median_min", r.session_median_min}, {"session_mean_min", r.session_mean_min},
            {"lookups", r.lookups}, {"lookups_found", r.lookups_found}, {"items", r.items},
            {"items_lost", r.items_lost}, {"handed_on", r.handed_on}, {"datagrams", r.datagrams},
            {"oversized", r.oversized}, {"checks", checks}, {"wall_s", r.wall_s},
            {"peak_rss_mib", static_cast<double>(kib_of("VmHWM:")) / 1024.0}};
}

json run_sim(size_t n, size_t lookups, uint64_t seed) {
    auto t0 = std::chrono::steady_clock::now();
    long rss0 = kib_of("VmRSS:");
    sim::WorldConfig cfg;
    cfg.seed = seed;
    cfg.latency = 20ms;
    cfg.jitter = 10ms;
    sim::World w{cfg};
    w.spawn(n);
    // Joins arrive one every 2 ms of virtual time, all through node 0.
    for (size_t i = 1; i < n; ++i) w.schedule_join(i, 0, w.now() + 2ms * static_cast<int64_t>(i));
    w.run_for(2ms * static_cast<int64_t>(n) + 30s);
    double join_wall = wall_s(t0);
    std::vector<double> hops, msgs, rtts;
    size_t done = 0, found = 0;
    double rtt_unit_ms = 2 * (20.0 + 5.0);  // mean round trip: 2 x (latency + jitter/2)
    for (size_t k = 0; k < lookups; ++k) {
        size_t from = w.rng().uniform(n), to = w.rng().uniform(n);
        if (to == from) to = (to + 1) % n;
        w.node(from).find_node(w.node(to).id(), [&](const dht::LookupResult& r) {
            ++done;
            found += r.found;
            hops.push_back(r.hops);
            msgs.push_back(static_cast<double>(r.messages));
            rtts.push_back(base::to_ms(r.duration) / rtt_unit_ms);
        }, w.now());
        w.poke(from);
        w.run_for(10ms);
    }
    w.run_until([&] { return done == lookups; }, 120s);
    double mean_msgs = 0;
    for (double m : msgs) mean_msgs += m;
    mean_msgs /= std::max<size_t>(1, msgs.size());
    long hwm = kib_of("VmHWM:");
    return {{"nodes", n},
            {"lookups", lookups},
            {"success", static_cast<double>(found) / static_cast<double>(lookups)},
            {"hops_p50", pct(hops, 0.5)},
            {"hops_p90", pct(hops, 0.9)},
            {"hops_p99", pct(hops, 0.99)},
            {"messages_per_lookup", mean_msgs},
            {"lookup_rtts_p50", pct(rtts, 0.5)},
            {"lookup_rtts_p99", pct(rtts, 0.99)},
            {"datagrams", w.delivered()},
            {"join_wall_s", join_wall},
            {"wall_s", wall_s(t0)},
            {"peak_rss_mib", static_cast<double>(hwm) / 1024.0},
            {"peak_bytes_per_node", static_cast<double>(hwm - rss0) * 1024.0 / static_cast<double>(n)}};
}

// Runs `fn` in a child process and returns the JSON it printed (its memory is its own).
json in_child(const std::function<json()>& fn) {
    int fds[2];
    if (pipe(fds) != 0) return {{"error", "pipe"}};
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        std::string out = fn().dump();
        (void)!write(fds[1], out.data(), out.size());
        _exit(0);
    }
    close(fds[1]);
    std::string buf;
    char tmp[4096];
    ssize_t r;
    while ((r = read(fds[0], tmp, sizeof tmp)) > 0) buf.append(tmp, static_cast<size_t>(r));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    try {
        return json::parse(buf);
    } catch (...) {
        return {{"error", "child failed with status " + std::to_string(status)}};
    }
}

void print_sessions(const json& s) {
    if (s.contains("error")) {
        std::printf("\nSecure sessions: error: %s\n", s["error"].get<std::string>().c_str());
        return;
    }
    auto num = [](const json& j, const char* k) { return j.contains(k) ? j[k].get<double>() : -1.0; };
    std::printf("\nSecure sessions on 127.0.0.1 (sender and receiver on their own threads), with baselines\n");
    std::printf("  AEAD (ChaCha20-Poly1305), one core:   %10.0f msg/s of 100 B   %6.2f GB/s in 64 KiB\n",
                num(s["aead_one_core"]["100B"], "messages_per_s"), num(s["aead_one_core"]["65536B"], "gb_per_s"));
    std::printf("  handshakes per second, one core:      %10.0f complete   %8.0f responder side   %8.0f initiator side\n",
                num(s["handshakes"], "complete_per_s_one_core"), num(s["handshakes"], "responder_per_s_one_core"),
                num(s["handshakes"], "initiator_per_s_one_core"));
    std::printf("  %-36s %14s %14s\n", "", "raw TCP", "session");
    std::printf("  %-36s %14.0f %14.0f\n", "256-byte messages per second", num(s["raw_tcp"]["messages_256"], "messages_per_s"),
                num(s["session"]["messages_256"], "messages_per_s"));
    std::printf("  %-36s %11.2f GB/s %9.2f GB/s  (%.0f%% of the AEAD ceiling)\n", "bulk, 65,000-byte messages",
                num(s["raw_tcp"]["bulk_65000"], "gb_per_s"), num(s["session"]["bulk_65000"], "gb_per_s"),
                100 * s.value("bulk_vs_aead_ceiling", 0.0));
    std::printf("  %-36s %11.1f us %11.1f us\n", "echo round trip p50", num(s["raw_tcp"]["echo_64"], "rtt_us_p50"),
                num(s["session"]["echo_64"], "rtt_us_p50"));
    std::printf("  %-36s %11.1f us %11.1f us\n", "echo round trip p99", num(s["raw_tcp"]["echo_64"], "rtt_us_p99"),
                num(s["session"]["echo_64"], "rtt_us_p99"));
}

void print_churn(const json& runs) {
    std::printf("\nChurn (virtual time; Weibull shape 0.5 sessions and absences, mean 2 h each; 8 stable nodes;\n"
                "40 mailbox items and 40 values whose sender left for good after one put)\n");
    std::printf("%8s %6s %8s %7s %11s %10s %12s %10s %14s %8s %9s\n", "nodes", "days", "hand-on", "online",
                "departures", "lookups", "items kept", "handed on", "datagrams", "wall s", "peak MiB");
    for (auto& r : runs) {
        if (r.contains("error")) {
            std::printf("error: %s\n", r["error"].get<std::string>().c_str());
            continue;
        }
        double lk = r["lookups"].get<double>();
        std::printf("%8zu %6.2f %8s %6.1f%% %11zu %9.2f%% %6zu of %2zu %10zu %14zu %8.0f %9.0f\n", r["nodes"].get<size_t>(),
                    r["days"].get<double>(), r["hand_on"].get<bool>() ? "on" : "off",
                    100 * r["online_fraction"].get<double>(), r["departures"].get<size_t>(),
                    lk > 0 ? 100 * r["lookups_found"].get<double>() / lk : 0.0,
                    r["items"].get<size_t>() - r["items_lost"].get<size_t>(), r["items"].get<size_t>(),
                    r["handed_on"].get<size_t>(), r["datagrams"].get<size_t>(), r["wall_s"].get<double>(),
                    r["peak_rss_mib"].get<double>());
        std::printf("    after the join: %.1f%% of each node's k closest in its table; lookups found %zu of %zu\n",
                    100 * r["neighbours_known"].get<double>(), r["lookups_found"].get<size_t>(),
                    r["lookups"].get<size_t>());
        for (auto& k : r["checks"])
            std::printf("    at %6.1f h: %6zu online; owners found their item %zu of %zu; values found %zu of %zu\n",
                        k["at_h"].get<double>(), k["online"].get<size_t>(), k["mailboxes_found"].get<size_t>(),
                        k["mailboxes_asked"].get<size_t>(), k["values_found"].get<size_t>(),
                        k["values_asked"].get<size_t>());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (!crypto::init().ok()) return 1;
    std::vector<size_t> sizes{1000, 10000, 100000};
    size_t loopback = 1000, lookups = 500, threads = 2;
    double session_secs = 2;
    size_t chat_messages = 1000;
    double relay_secs = 2;
    std::vector<std::string> churns;
    uint64_t seed = 1;
    bool as_json = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&](const char* p) { return a.rfind(p, 0) == 0 ? a.substr(std::strlen(p)) : std::string(); };
        if (a == "--json") {
            as_json = true;
        } else if (a.rfind("--sim=", 0) == 0) {
            sizes.clear();
            std::stringstream ss(val("--sim="));
            for (std::string x; std::getline(ss, x, ',');)
                if (x != "none") sizes.push_back(std::stoul(x));
        } else if (a.rfind("--loopback=", 0) == 0) {
            loopback = std::stoul(val("--loopback="));
        } else if (a.rfind("--lookups=", 0) == 0) {
            lookups = std::stoul(val("--lookups="));
        } else if (a.rfind("--sessions=", 0) == 0) {
            session_secs = std::stod(val("--sessions="));
        } else if (a.rfind("--chat=", 0) == 0) {
            chat_messages = std::stoul(val("--chat="));
        } else if (a.rfind("--churn=", 0) == 0) {
            std::stringstream ss(val("--churn="));
            std::string item;
            while (std::getline(ss, item, ','))
                if (item != "none") churns.push_back(item);
        } else if (a.rfind("--relay=", 0) == 0) {
            relay_secs = std::stod(val("--relay="));
        } else if (a.rfind("--threads=", 0) == 0) {
            threads = std::stoul(val("--threads="));
        } else if (a.rfind("--seed=", 0) == 0) {
            seed = std::stoull(val("--seed="));
        } else {
            std::cerr << kUsage;
            return 2;
        }
    }
    json report{{"sim", json::array()}};
    for (size_t n : sizes) {
        if (!as_json) std::cerr << "simulating " << n << " nodes...\n";
        report["sim"].push_back(in_child([&] { return run_sim(n, lookups, seed); }));
    }
    if (loopback > 0) {
        if (!as_json) std::cerr << "running " << loopback << " real nodes on loopback...\n";
        report["loopback"] = in_child([&] { return bench::run_loopback(loopback, lookups, threads); });
    }
    if (session_secs > 0) {
        if (!as_json) std::cerr << "measuring secure sessions...\n";
        report["sessions"] = in_child([&] { return bench::run_sessions(session_secs); });
    }
    if (chat_messages > 0) {
        if (!as_json) std::cerr << "measuring chat...\n";
        report["chat"] = in_child([&] { return bench::run_chat(chat_messages); });
    }
    if (relay_secs > 0) {
        if (!as_json) std::cerr << "measuring the relay...\n";
        report["relay"] = json::array();
        for (size_t c : {size_t{1}, size_t{64}})
            report["relay"].push_back(in_child([&] { return bench::run_relay(relay_secs, c); }));
    }
    if (!churns.empty()) {
        report["churn"] = json::array();
        for (auto& spec : churns) {
            if (!as_json) std::cerr << "simulating churn " << spec << "...\n";
            report["churn"].push_back(in_child([&] { return run_churn(spec, seed); }));
        }
    }
    if (as_json) {
        std::cout << report.dump(2) << "\n";
        return 0;
    }
    std::printf("Simulated networks (virtual time, 20 ms +- 5 ms one-way, no loss, seed %llu)\n",
                static_cast<unsigned long long>(seed));
    std::printf("%8s %8s %5s %5s %5s %9s %8s %8s %8s %9s %12s\n", "nodes", "success", "hops50", "90", "99",
                "msgs/lkp", "rtts p50", "rtts p99", "wall s", "peak MiB", "bytes/node");
    for (auto& r : report["sim"]) {
        if (r.contains("error")) {
            std::printf("error: %s\n", r["error"].get<std::string>().c_str());
            continue;
        }
        std::printf("%8zu %7.1f%% %5.0f %5.0f %5.0f %9.1f %8.1f %8.1f %8.1f %9.1f %12.0f\n", r["nodes"].get<size_t>(),
                    100 * r["success"].get<double>(), r["hops_p50"].get<double>(), r["hops_p90"].get<double>(),
                    r["hops_p99"].get<double>(), r["messages_per_lookup"].get<double>(),
                    r["lookup_rtts_p50"].get<double>(), r["lookup_rtts_p99"].get<double>(), r["wall_s"].get<double>(),
                    r["peak_rss_mib"].get<double>(), r["peak_bytes_per_node"].get<double>());
    }
    if (report.contains("loopback")) {
        auto& l = report["loopback"];
        std::printf("\nReal nodes on 127.0.0.1, one process, %zu threads\n", l.value("threads", size_t{1}));
        if (l.contains("error")) {
            std::printf("error: %s\n", l["error"].get<std::string>().c_str());
        } else {
            std::printf("%8s %14s %9s %9s %9s %9s %9s %12s\n", "nodes", "all>=8 good s", "find p50", "find p99",
                        "get p50", "get p99", "get ok", "bytes/node");
            std::printf("%8zu %14.2f %7.2fms %7.2fms %7.2fms %7.2fms %8.1f%% %12.0f\n", l["nodes"].get<size_t>(),
                        l["join_all_8_good_contacts_s"].get<double>(), l["find_node_ms_p50"].get<double>(),
                        l["find_node_ms_p99"].get<double>(), l["get_ms_p50"].get<double>(),
                        l["get_ms_p99"].get<double>(), 100 * l["get_success"].get<double>(),
                        l["bytes_per_node"].get<double>());
        }
    }
    if (report.contains("sessions")) print_sessions(report["sessions"]);
    if (report.contains("chat")) {
        auto& c = report["chat"];
        std::printf("\nChat between real nodes on 127.0.0.1 (outbox and history synced in groups, acknowledged)\n");
        if (c.contains("error")) {
            std::printf("error: %s\n", c["error"].get<std::string>().c_str());
        } else {
            std::printf("  send -> acknowledged, warm session: p50 %.2f ms, p99 %.2f ms (%zu messages, one at a time)\n",
                        c["latency_ms"]["p50"].get<double>(), c["latency_ms"]["p99"].get<double>(),
                        c["latency_ms"]["messages"].get<size_t>());
            const json& tp = c["throughput"];
            const json& first = tp["bursts"][0];
            std::printf("  throughput: %.0f messages/s, median of %zu bursts (%.0f-%.0f; %zu sent at once, until the last"
                        " acknowledgement; first burst: %zu fdatasyncs, %zu went as text, %zu sealed)\n",
                        tp["msgs_per_s"].get<double>(), tp["bursts"].size(), tp["min"].get<double>(), tp["max"].get<double>(),
                        tp["messages"].get<size_t>(), first["fdatasyncs"].get<size_t>(), first["as_text"].get<size_t>(),
                        first["sealed"].get<size_t>());
            if (c["envelope_us"].contains("seal")) {
                double seal = c["envelope_us"]["seal"].get<double>(), open = c["envelope_us"]["open"].get<double>();
                std::printf("  sealing one envelope (mailboxes, older peers) %.0f us, opening it %.0f us: %.0f messages/s on one thread\n", seal,
                            open, 1e6 / (seal + open));
            }
            std::printf("  cold start of the sender to delivered: median %.0f ms (min %.0f, max %.0f, %zu runs)\n",
                        c["cold_start_to_delivered_ms"]["median"].get<double>(),
                        c["cold_start_to_delivered_ms"]["min"].get<double>(),
                        c["cold_start_to_delivered_ms"]["max"].get<double>(),
                        c["cold_start_to_delivered_ms"]["runs"].get<size_t>());
            std::printf("  mailbox: stored in %.0f ms; recipient start -> received %.0f ms, -> sender sees delivered %.0f ms (medians of %zu)\n",
                        c["mailbox"]["store_ms_median"].get<double>(), c["mailbox"]["start_to_received_ms_median"].get<double>(),
                        c["mailbox"]["start_to_delivered_ms_median"].get<double>(), c["mailbox"]["runs"].get<size_t>());
        }
    }
    if (report.contains("churn")) print_churn(report["churn"]);
    if (report.contains("relay")) {
        std::printf("\nRelay on 127.0.0.1 (one relay thread; 1,190-byte session datagrams, caps lifted)\n");
        std::printf("%9s %12s %9s %10s %12s %22s\n", "circuits", "datagrams/s", "MB/s", "relay CPU", "CPU us/dgram",
                    "busy circuits per core");
        for (auto& r : report["relay"]) {
            if (r.contains("error")) {
                std::printf("error: %s\n", r["error"].get<std::string>().c_str());
                continue;
            }
            std::printf("%9zu %12.0f %9.1f %9.0f%% %12.2f %22.0f\n", r["circuits"].get<size_t>(),
                        r["datagrams_per_s"].get<double>(), r["mb_per_s"].get<double>(),
                        100 * r["relay_cpu_share"].get<double>(), r["relay_cpu_us_per_datagram"].get<double>(),
                        r["busy_circuits_per_core_at_default_cap"].get<double>());
        }
    }
    return 0;
}
