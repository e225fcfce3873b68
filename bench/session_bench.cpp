#include "session_bench.hpp"
#include "stats.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "crypto/handshake.hpp"
#include "crypto/keys.hpp"
#include "crypto/noise.hpp"
#include "crypto/sodium_rng.hpp"
#include "cli/session_host.hpp"
#include "net/tcp.hpp"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace bench {

namespace {

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// libsodium's ChaCha20-Poly1305 on one core: the ceiling every secure transport here is held to.
json aead_ceiling(double seconds) {
    uint8_t key[32] = {1};
    json out;
    for (size_t size : {size_t{100}, size_t{256}, size_t{65536}}) {
        std::vector<uint8_t> pt(size, 7), ct(size + 16);
        uint64_t n = 0;
        auto t0 = Clock::now();
        while (secs(t0, Clock::now()) < seconds) {
            for (int i = 0; i < 64; ++i) crypto::noise::aead_encrypt(key, n++, {}, pt, ct.data());
        }
        double el = secs(t0, Clock::now());
        out[std::to_string(size) + "B"] = {{"messages_per_s", static_cast<double>(n) / el},
                                           {"gb_per_s", static_cast<double>(n * size) / el / 1e9}};
    }
    return out;
}

// Complete IK handshakes, both sides, on one thread; and the responder's share alone.
json handshakes(double seconds) {
    crypto::SodiumRng rng;
    auto alice = crypto::Identity::generate(), bob = crypto::Identity::generate();
    crypto::SessionKeys ka{alice}, kb{bob};
    crypto::CookieJar jar{rng, base::steady_now()};
    size_t n = 0;
    double responder_s = 0;
    auto t0 = Clock::now();
    while (secs(t0, Clock::now()) < seconds) {
        auto hs = crypto::InitiatorHandshake::create(ka, bob.public_key);
        auto init = hs->init_message({}, n + 1, rng, base::steady_now());
        auto r0 = Clock::now();
        auto r = crypto::accept_init(kb, *init, {}, false, jar, rng, base::steady_now());
        crypto::noise::TransportKeys keys;
        auto resp = crypto::write_response(r.init, {}, rng, keys);
        responder_s += secs(r0, Clock::now());
        auto done = hs->on_response(*resp);
        if (!done) return {{"error", "handshake failed"}};
        ++n;
    }
    double el = secs(t0, Clock::now());
    return {{"complete_per_s_one_core", static_cast<double>(n) / el},
            {"responder_per_s_one_core", static_cast<double>(n) / responder_s},
            {"initiator_per_s_one_core", static_cast<double>(n) / (el - responder_s)}};
}

// ---- two loops on two threads ----

struct Side {
    net::Loop loop;
    crypto::Identity id = crypto::Identity::generate();
    crypto::SessionKeys keys{id};
    crypto::SodiumRng rng;
    base::StderrLogger log{base::Level::error};
    std::unique_ptr<net::LoopTurn> turn = std::move(*net::LoopTurn::make(loop));
    std::unique_ptr<cli::SessionHost> mgr;
    void make() {
        mgr = std::make_unique<cli::SessionHost>(loop, *turn, keys, rng, log, nullptr);
        if (!mgr->start().ok()) std::abort();
    }
};

std::vector<uint8_t> u64_bytes(uint64_t v, size_t size) {
    std::vector<uint8_t> b(std::max<size_t>(size, 8), 0);
    std::memcpy(b.data(), &v, 8);
    return b;
}

// The receiver: counts messages and bytes, or echoes each one back.
void run_receiver(Side& s, bool echo, std::promise<base::Endpoint>& ready, std::atomic<bool>& stop,
                  std::atomic<uint64_t>& msgs, std::atomic<uint64_t>& bytes) {
    s.make();
    if (!s.mgr->listen(base::Endpoint::v4(127, 0, 0, 1, 0)).ok()) std::abort();
    s.mgr->on_message = [&](const crypto::PublicKey& peer, std::span<const uint8_t> m) {
        msgs.fetch_add(1, std::memory_order_relaxed);
        bytes.fetch_add(m.size(), std::memory_order_relaxed);
        if (echo) (void)s.mgr->send(peer, m);
    };
    ready.set_value(s.mgr->listening().front());
    std::unique_ptr<net::Timer> poll;
    auto p = net::Timer::make(s.loop, [&] {
        if (stop.load()) {
            s.mgr->close_all();
            s.loop.stop();
            return;
        }
        poll->start(10);
    });
    poll = std::move(*p);
    poll->start(10);
    s.loop.run();
    poll.reset();
    s.mgr.reset();
    s.loop.run();
}

json session_stream(double seconds, size_t size) {
    Side rx, tx;
    std::promise<base::Endpoint> ready;
    auto at_f = ready.get_future();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> msgs{0}, bytes{0};
    std::thread th([&] { run_receiver(rx, false, ready, stop, msgs, bytes); });
    base::Endpoint at = at_f.get();
    tx.make();
    auto msg = std::vector<uint8_t>(size, 0x5a);
    Clock::time_point t0{}, t_end{};
    uint64_t start_msgs = 0, start_bytes = 0;
    bool measuring = false;
    // Queue about 1 MiB per round: between cork() and uncork() the frames go out in one write,
    // and the next round starts when the socket has taken it all.
    auto fill = [&] {
        tx.mgr->cork();
        size_t budget = std::max<size_t>(16, (size_t{1} << 20) / (size + 27));
        for (size_t i = 0; i < budget; ++i)
            if (!tx.mgr->send(rx.id.public_key, msg).ok()) break;
        tx.mgr->uncork();
    };
    tx.mgr->on_room = [&](const crypto::PublicKey&) {
        if (!stop.load()) fill();
    };
    std::unique_ptr<net::Timer> timer;
    auto tm = net::Timer::make(tx.loop, [&] {
        auto now = Clock::now();
        if (!measuring) {
            // One second of warm-up, then measure.
            measuring = true;
            t0 = now;
            start_msgs = msgs.load();
            start_bytes = bytes.load();
            timer->start(static_cast<uint64_t>(seconds * 1000));
            return;
        }
        t_end = now;
        stop.store(true);
        tx.mgr->close_all();
        tx.loop.stop();
    });
    timer = std::move(*tm);
    tx.mgr->connect(rx.id.public_key, at, [&](const session::ConnectReport& r) {
        if (!r.status.ok()) {
            stop.store(true);
            tx.loop.stop();
            return;
        }
        fill();
        timer->start(1000);
    });
    tx.loop.run();
    uint64_t m = msgs.load() - start_msgs, b = bytes.load() - start_bytes;
    stop.store(true);
    th.join();
    timer.reset();
    tx.mgr.reset();
    tx.loop.run();
    double el = secs(t0, t_end);
    if (el <= 0) return {{"error", "no session"}};
    return {{"message_bytes", size}, {"messages_per_s", static_cast<double>(m) / el},
            {"gb_per_s", static_cast<double>(b) / el / 1e9}};
}

constexpr size_t kEchoWarmup = 500;  // round trips not counted at the start of each block

std::vector<double> session_echo(size_t rounds) {
    Side rx, tx;
    std::promise<base::Endpoint> ready;
    auto at_f = ready.get_future();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> msgs{0}, bytes{0};
    std::thread th([&] { run_receiver(rx, true, ready, stop, msgs, bytes); });
    base::Endpoint at = at_f.get();
    tx.make();
    std::vector<double> rtt_us;
    Clock::time_point sent{};
    size_t n = 0;
    auto ping = [&] {
        sent = Clock::now();
        (void)tx.mgr->send(rx.id.public_key, u64_bytes(n, 64));
    };
    tx.mgr->on_message = [&](const crypto::PublicKey&, std::span<const uint8_t>) {
        if (n >= kEchoWarmup) rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
        if (++n == rounds + kEchoWarmup) {
            stop.store(true);
            tx.mgr->close_all();
            tx.loop.stop();
            return;
        }
        ping();
    };
    tx.mgr->connect(rx.id.public_key, at, [&](const session::ConnectReport& r) {
        if (!r.status.ok()) {
            stop.store(true);
            tx.loop.stop();
            return;
        }
        ping();
    });
    tx.loop.run();
    stop.store(true);
    th.join();
    tx.mgr.reset();
    tx.loop.run();
    return rtt_us;
}

// ---- raw TCP baselines: the same shapes without any crypto ----

struct RawRx {
    net::Loop loop;
    std::unique_ptr<net::TcpListener> listener;
    std::unique_ptr<net::TcpConnection> conn;
};

// Raw receiver: frames are a 2-byte length and a body, parsed like the session's stream: whole
// frames straight from the read buffer, only a frame split across reads is copied.
void run_raw_receiver(RawRx& r, bool echo, std::promise<base::Endpoint>& ready, std::atomic<bool>& stop,
                      std::atomic<uint64_t>& msgs, std::atomic<uint64_t>& bytes) {
    std::vector<uint8_t> carry;
    auto frame = [&](std::span<const uint8_t> f, std::vector<uint8_t>& out) {
        msgs.fetch_add(1, std::memory_order_relaxed);
        bytes.fetch_add(f.size() - 2, std::memory_order_relaxed);
        if (echo) out.insert(out.end(), f.begin(), f.end());
    };
    auto l = net::TcpListener::listen(r.loop, base::Endpoint::v4(127, 0, 0, 1, 0), [&](std::unique_ptr<net::TcpConnection> c) {
        r.conn = std::move(c);
        r.conn->start([&](std::span<const uint8_t> d) {
            std::vector<uint8_t> out;
            while (!carry.empty() && !d.empty()) {
                size_t need = carry.size() < 2 ? 2 - carry.size() : 2 + (size_t{carry[0]} << 8 | carry[1]) - carry.size();
                size_t take = std::min(need, d.size());
                carry.insert(carry.end(), d.begin(), d.begin() + static_cast<std::ptrdiff_t>(take));
                d = d.subspan(take);
                if (carry.size() >= 2 && carry.size() == 2 + (size_t{carry[0]} << 8 | carry[1])) {
                    frame(carry, out);
                    carry.clear();
                    break;
                }
            }
            size_t at = 0;
            while (d.size() - at >= 2) {
                size_t len = size_t{d[at]} << 8 | d[at + 1];
                if (d.size() - at - 2 < len) break;
                frame(d.subspan(at, 2 + len), out);
                at += 2 + len;
            }
            carry.insert(carry.end(), d.begin() + static_cast<std::ptrdiff_t>(at), d.end());
            if (!out.empty()) r.conn->write(std::move(out));
        }, [](const std::string&) {});
    });
    r.listener = std::move(*l);
    ready.set_value(r.listener->local());
    std::unique_ptr<net::Timer> poll;
    auto p = net::Timer::make(r.loop, [&] {
        if (stop.load()) {
            r.conn.reset();
            r.listener.reset();
            r.loop.stop();
            return;
        }
        poll->start(10);
    });
    poll = std::move(*p);
    poll->start(10);
    r.loop.run();
    poll.reset();
    r.loop.run();
}

std::vector<uint8_t> framed(size_t size, size_t count) {
    std::vector<uint8_t> out;
    out.reserve((size + 2) * count);
    for (size_t i = 0; i < count; ++i) {
        out.push_back(static_cast<uint8_t>(size >> 8));
        out.push_back(static_cast<uint8_t>(size));
        out.insert(out.end(), size, 0x5a);
    }
    return out;
}

// The raw sender has the session sender's shape: batches of about 1 MiB, one write each, refilled
// when the queue falls to 1 MiB, written buffers reused.
json raw_stream(double seconds, size_t size) {
    RawRx rx;
    net::Loop loop;
    std::promise<base::Endpoint> ready;
    auto at_f = ready.get_future();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> msgs{0}, bytes{0};
    std::thread th([&] { run_raw_receiver(rx, false, ready, stop, msgs, bytes); });
    base::Endpoint at = at_f.get();
    std::unique_ptr<net::TcpConnection> c;
    const std::vector<uint8_t> batch = framed(size, std::max<size_t>(16, (size_t{1} << 20) / (size + 27)));
    std::vector<std::vector<uint8_t>> pool;
    auto fill = [&] {
        std::vector<uint8_t> b;
        if (!pool.empty()) {
            b = std::move(pool.back());
            pool.pop_back();
        }
        b.assign(batch.begin(), batch.end());  // the session's sender also writes each batch once
        c->write(std::move(b));
    };
    Clock::time_point t0{}, t_end{};
    uint64_t m0 = 0, b0 = 0;
    bool measuring = false;
    std::unique_ptr<net::Timer> timer;
    auto tm = net::Timer::make(loop, [&] {
        if (!measuring) {
            measuring = true;
            t0 = Clock::now();
            m0 = msgs.load();
            b0 = bytes.load();
            timer->start(static_cast<uint64_t>(seconds * 1000));
            return;
        }
        t_end = Clock::now();
        stop.store(true);
        c.reset();
        loop.stop();
    });
    timer = std::move(*tm);
    auto cc = net::TcpConnection::connect(loop, at, [&](base::Status st) {
        if (!st.ok()) {
            loop.stop();
            return;
        }
        c->start([](std::span<const uint8_t>) {}, [](const std::string&) {});
        c->set_low_water(size_t{1} << 20);
        c->on_written = [&](std::vector<uint8_t>&& b) {
            if (pool.size() < 4) pool.push_back(std::move(b));
        };
        c->on_low = c->on_drain = [&] {
            if (!stop.load()) fill();
        };
        fill();
        timer->start(1000);
    });
    c = std::move(*cc);
    loop.run();
    uint64_t m = msgs.load() - m0, b = bytes.load() - b0;
    stop.store(true);
    th.join();
    timer.reset();
    c.reset();
    loop.run();
    double el = secs(t0, t_end);
    if (el <= 0) return {{"error", "no connection"}};
    return {{"message_bytes", size}, {"messages_per_s", static_cast<double>(m) / el},
            {"gb_per_s", static_cast<double>(b) / el / 1e9}};
}

std::vector<double> raw_echo(size_t rounds) {
    RawRx rx;
    net::Loop loop;
    std::promise<base::Endpoint> ready;
    auto at_f = ready.get_future();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> msgs{0}, bytes{0};
    std::thread th([&] { run_raw_receiver(rx, true, ready, stop, msgs, bytes); });
    base::Endpoint at = at_f.get();
    std::unique_ptr<net::TcpConnection> c;
    std::vector<double> rtt_us;
    Clock::time_point sent{};
    size_t n = 0, have = 0;
    auto ping = [&] {
        sent = Clock::now();
        c->write(framed(64, 1));
    };
    auto cc = net::TcpConnection::connect(loop, at, [&](base::Status st) {
        if (!st.ok()) {
            loop.stop();
            return;
        }
        c->start([&](std::span<const uint8_t> d) {
            have += d.size();
            if (have < 66) return;
            have -= 66;
            if (n >= kEchoWarmup) rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
            if (++n == rounds + kEchoWarmup) {
                stop.store(true);
                loop.stop();
                return;
            }
            ping();
        }, [](const std::string&) {});
        ping();
    });
    c = std::move(*cc);
    loop.run();
    stop.store(true);
    th.join();
    c.reset();
    loop.run();
    return rtt_us;
}

json echo_figures(const std::vector<double>& rtt_us) {
    return {{"rounds", rtt_us.size()}, {"rtt_us_p50", pct(rtt_us, 0.5)}, {"rtt_us_p99", pct(rtt_us, 0.99)}};
}

}  // namespace

json run_sessions(double seconds) {
    json out;
    out["aead_one_core"] = aead_ceiling(seconds);
    out["handshakes"] = handshakes(seconds);
    out["raw_tcp"] = {{"messages_256", raw_stream(seconds, 256)}, {"bulk_65000", raw_stream(seconds, 65000)}};
    out["session"] = {{"messages_256", session_stream(seconds, 256)},
                      {"bulk_65000", session_stream(seconds, 65000)}};
    // Echo round trips: raw TCP and the session take turns, five blocks of 4,000 each, so a
    // change in the machine's load hits both alike and their difference is the session's cost.
    std::vector<double> raw, sess;
    for (int block = 0; block < 5; ++block) {
        auto r = raw_echo(4000);
        auto e = session_echo(4000);
        raw.insert(raw.end(), r.begin(), r.end());
        sess.insert(sess.end(), e.begin(), e.end());
    }
    out["raw_tcp"]["echo_64"] = echo_figures(raw);
    out["session"]["echo_64"] = echo_figures(sess);
    double ceiling = out["aead_one_core"]["65536B"]["gb_per_s"].get<double>();
    double bulk = out["session"]["bulk_65000"].value("gb_per_s", 0.0);
    out["bulk_vs_aead_ceiling"] = ceiling > 0 ? bulk / ceiling : 0.0;
    out["added_latency_us_p50"] = pct(sess, 0.5) - pct(raw, 0.5);
    out["added_latency_us_p99"] = pct(sess, 0.99) - pct(raw, 0.99);
    return out;
}

}  // namespace bench
