#include "chat_bench.hpp"

#include <unistd.h>

#include <functional>
#include <iostream>
#include <memory>
#include <unordered_set>
#include <string>

#include "base/hex.hpp"
#include "cli/runtime.hpp"
#include "crypto/envelope.hpp"
#include "crypto/sodium_rng.hpp"
#include "stats.hpp"

namespace bench {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct Harness {
    net::Loop loop;
    crypto::SodiumRng rng;
    base::CaptureLogger log{base::Level::error};
    std::string root;
    std::map<std::string, std::unique_ptr<cli::Runtime>> nodes;
    std::map<std::string, std::string> listen;
    std::string boot;
    std::unordered_set<std::string> delivered, stored, received;  // message ids (hex)

    Harness() {
        // TMPDIR picks the disk measured (a tmpfs shows the cost of everything but the syncs).
        const char* dir = std::getenv("TMPDIR");
        std::string tmpl = std::string{dir && *dir ? dir : "/tmp"} + "/kadchat-chatbench-XXXXXX";
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a directory in " + tmpl);
        root = tmpl;
    }
    ~Harness() {
        for (auto& [n, rt] : nodes) rt->shutdown();
        run_until([] { return false; }, 200);
        nodes.clear();
        loop.run();
        [[maybe_unused]] int rc = std::system(("rm -rf " + root).c_str());
    }
    // Runs the loop until `cond` or `timeout_ms`; true if the condition held.
    bool run_until(const std::function<bool()>& cond, double timeout_ms) {
        auto t0 = Clock::now();
        while (!cond()) {
            if (ms_since(t0) > timeout_ms) return false;
            uv_run(loop.get(), UV_RUN_ONCE);
        }
        return true;
    }
    cli::Runtime& start(const std::string& name) {
        cli::NodeOptions o;
        o.daemon = true;
        o.data_dir = root + "/" + name;
        o.listen = {listen.count(name) ? listen[name] : "127.0.0.1:0"};
        o.listen_given = true;
        if (!boot.empty()) o.bootstrap = {boot};
        o.log_level = base::Level::error;
        auto rt = std::make_unique<cli::Runtime>(loop, o, rng, log);
        if (auto st = rt->start(); !st.ok()) throw std::runtime_error(st.to_string());
        listen[name] = rt->host().local_endpoints().front().to_string();
        if (boot.empty()) boot = listen[name];
        rt->chat().on_notice = [this](const chat::Notice& n) {
            std::string id = base::to_hex(std::span<const uint8_t>{n.entry.id});
            if (n.kind == chat::Notice::Kind::status && n.entry.status == "delivered") delivered.insert(id);
            if (n.kind == chat::Notice::Kind::status && n.entry.status == "stored") stored.insert(id);
            if (n.kind == chat::Notice::Kind::message || n.kind == chat::Notice::Kind::request) received.insert(id);
        };
        auto& ref = *rt;
        nodes[name] = std::move(rt);
        return ref;
    }
    void stop(const std::string& name) {
        nodes[name]->shutdown();
        run_until([] { return false; }, 100);
        nodes.erase(name);
    }
    bool joined(const std::string& name) {
        return nodes[name]->node().join_state() == dht::Node::JoinState::connected;
    }
    std::string send(const std::string& from, const crypto::PublicKey& to, const std::string& text) {
        auto e = nodes[from]->chat().messenger().send_text(to, text, cli::ChatHost::clock());
        if (!e) throw std::runtime_error(e.status().detail());
        return base::to_hex(std::span<const uint8_t>{e->id});
    }
};

// What sealing and opening one envelope costs on this thread: with both nodes on one thread,
// 1e6 / (seal + open) messages per second is the ceiling when every message is sealed (mailbox
// items, and peers without "text" payloads; PROTOCOL.md §15).
json envelope_cost(const crypto::PublicKey& to, const crypto::Identity& from, const crypto::Identity& me) {
    crypto::SodiumRng rng;
    crypto::EnvelopeOpener opener{me};
    std::vector<uint8_t> payload(96, 'x');
    std::vector<double> seal, open;
    for (int run = 0; run < 5; ++run) {
        std::vector<std::vector<uint8_t>> envs;
        auto t0 = Clock::now();
        for (int i = 0; i < 500; ++i) envs.push_back(*crypto::seal_envelope(from, to, crypto::MessageId{}, 1, payload, rng));
        auto t1 = Clock::now();
        for (auto& e : envs)
            if (!opener.open(e)) return {{"error", "an envelope did not open"}};
        seal.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 500);
        open.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t1).count() / 500);
    }
    return {{"seal", pct(seal, 0.5)}, {"open", pct(open, 0.5)}};
}

}  // namespace

json run_chat(size_t messages) {
    json out;
    std::cout.setstate(std::ios::failbit);  // the nodes' banners would garble --json output
    struct Restore {
        ~Restore() { std::cout.clear(); }
    } restore;
    try {
        Harness h;
        h.start("c");  // bootstrap, and a third node to keep mailboxes
        h.start("a");
        h.start("b");
        if (!h.run_until([&] { return h.joined("a") && h.joined("b"); }, 10000)) return {{"error", "nodes did not join"}};
        crypto::PublicKey pa = h.nodes["a"]->host().identity().public_key;
        crypto::PublicKey pb = h.nodes["b"]->host().identity().public_key;
        (void)h.nodes["a"]->chat().contacts().add(pb, "bob", 0);
        (void)h.nodes["b"]->chat().contacts().add(pa, "alice", 0);

        // Warm the session, then one message at a time: send -> acknowledgement.
        auto first = h.send("a", pb, "warm-up");
        if (!h.run_until([&] { return h.delivered.count(first) > 0; }, 10000)) return {{"error", "warm-up not delivered"}};
        std::vector<double> lat;
        for (size_t i = 0; i < messages; ++i) {
            auto t0 = Clock::now();
            auto id = h.send("a", pb, "latency " + std::to_string(i));
            if (!h.run_until([&] { return h.delivered.count(id) > 0; }, 10000)) return {{"error", "message lost"}};
            lat.push_back(ms_since(t0));
        }
        out["latency_ms"] = {{"p50", pct(lat, 0.5)}, {"p99", pct(lat, 0.99)}, {"max", pct(lat, 1.0)},
                             {"messages", messages}};

        // Throughput: `messages` sent at once, until the last acknowledgement; five bursts, one
        // after the other, and their median (one burst lasts ~50 ms, so one run says little on a
        // shared machine).
        auto syncs = [&] {
            return h.nodes["a"]->chat().commit_counts().syncs + h.nodes["b"]->chat().commit_counts().syncs;
        };
        auto& counts = h.nodes["a"]->chat().messenger().counts();
        std::vector<double> rates;
        json bursts = json::array();
        for (int burst = 0; burst < 5; ++burst) {
            size_t before = h.delivered.size();
            uint64_t syncs0 = syncs();
            uint64_t text0 = counts.sent_as_text, sealed0 = counts.sealed;
            auto t0 = Clock::now();
            for (size_t i = 0; i < messages; ++i) h.send("a", pb, "burst " + std::to_string(i));
            if (!h.run_until([&] { return h.delivered.size() >= before + messages; }, 120000))
                return {{"error", "burst not delivered"}};
            double burst_ms = ms_since(t0);
            rates.push_back(static_cast<double>(messages) / (burst_ms / 1000));
            bursts.push_back({{"ms", burst_ms}, {"msgs_per_s", rates.back()}, {"fdatasyncs", syncs() - syncs0},
                              {"as_text", counts.sent_as_text - text0}, {"sealed", counts.sealed - sealed0}});
        }
        out["throughput"] = {{"messages", messages}, {"msgs_per_s", pct(rates, 0.5)}, {"min", pct(rates, 0.0)},
                             {"max", pct(rates, 1.0)}, {"bursts", bursts}};
        out["envelope_us"] = envelope_cost(pb, h.nodes["a"]->host().identity(), h.nodes["b"]->host().identity());

        // Cold start: the sender process starts (key, files, sockets, DHT join), then sends.
        std::vector<double> cold;
        for (int i = 0; i < 5; ++i) {
            h.stop("a");
            auto c0 = Clock::now();
            h.start("a");
            auto id = h.send("a", pb, "cold " + std::to_string(i));
            if (!h.run_until([&] { return h.delivered.count(id) > 0; }, 30000)) return {{"error", "cold start: not delivered"}};
            cold.push_back(ms_since(c0));
        }
        out["cold_start_to_delivered_ms"] = {{"median", pct(cold, 0.5)}, {"min", pct(cold, 0)}, {"max", pct(cold, 1)},
                                             {"runs", cold.size()}};

        // Mailbox round trip: b is offline; a's message is stored in the DHT; b starts and
        // fetches it.
        std::vector<double> store_ms, fetch_ms, ack_ms;
        for (int i = 0; i < 3; ++i) {
            h.stop("b");
            auto s0 = Clock::now();
            auto id = h.send("a", pb, "mailbox " + std::to_string(i));
            if (!h.run_until([&] { return h.stored.count(id) > 0; }, 30000)) return {{"error", "mailbox: not stored"}};
            store_ms.push_back(ms_since(s0));
            auto f0 = Clock::now();
            h.start("b");
            if (!h.run_until([&] { return h.received.count(id) > 0; }, 60000)) return {{"error", "mailbox: not fetched"}};
            fetch_ms.push_back(ms_since(f0));
            if (!h.run_until([&] { return h.delivered.count(id) > 0; }, 60000)) return {{"error", "mailbox: not acknowledged"}};
            ack_ms.push_back(ms_since(f0));
        }
        out["mailbox"] = {{"store_ms_median", pct(store_ms, 0.5)},
                          {"start_to_received_ms_median", pct(fetch_ms, 0.5)},
                          {"start_to_delivered_ms_median", pct(ack_ms, 0.5)},
                          {"runs", store_ms.size()}};
    } catch (const std::exception& e) {
        return {{"error", e.what()}};
    }
    return out;
}

}  // namespace bench
