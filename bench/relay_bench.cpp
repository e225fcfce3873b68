#include "relay_bench.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>
#include <vector>

#include "base/rng.hpp"
#include "base/time.hpp"
#include "dht/relay.hpp"
#include "net/sockaddr.hpp"

namespace bench {

namespace {

int udp_socket(base::Endpoint& bound) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    net::from_sockaddr(reinterpret_cast<sockaddr*>(&a), bound);
    int buf = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    timeval tv{0, 100000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

void send_to(int fd, const base::Endpoint& to, std::span<const uint8_t> d) {
    sockaddr_storage ss{};
    net::to_sockaddr(to, ss);
    ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
}

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

nlohmann::json run_relay(double seconds, size_t circuits) {
    base::Endpoint ep_r, ep_a, ep_b;
    int fr = udp_socket(ep_r), fa = udp_socket(ep_a), fb = udp_socket(ep_b);
    base::SeededRng rng{5};
    dht::RelayLimits unlimited;  // measure the relay, not its caps
    unlimited.circuits = circuits;
    unlimited.per_node = circuits;
    unlimited.rate = uint64_t{1} << 40;
    unlimited.burst = uint64_t{1} << 40;
    unlimited.bytes = uint64_t{1} << 60;
    dht::Relay relay{unlimited, rng};
    std::vector<uint64_t> ids;
    auto now = base::steady_now();
    for (size_t i = 0; i < circuits; ++i) {
        dht::NodeId x, y;
        x.bytes().fill(1);
        y.bytes().fill(2);
        x.bytes()[0] = static_cast<uint8_t>(i);
        x.bytes()[1] = static_cast<uint8_t>(i >> 8);
        y.bytes()[0] = static_cast<uint8_t>(i);
        y.bytes()[1] = static_cast<uint8_t>(i >> 8);
        auto o = relay.open(x, ep_a, y, ep_b, now);
        if (!o) return {{"error", o.status().detail()}};
        relay.confirm(o->target_circuit, now);
        ids.push_back(o->asker_circuit);
    }
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> received{0};
    double relay_cpu = 0;
    std::thread relay_thread([&] {
        std::vector<uint8_t> buf(2048);
        double c0 = thread_cpu_s();
        while (!stop) {
            sockaddr_storage from{};
            socklen_t len = sizeof from;
            ssize_t n = ::recvfrom(fr, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n <= 0) continue;
            base::Endpoint src;
            net::from_sockaddr(reinterpret_cast<sockaddr*>(&from), src);
            for (auto& o : relay.on_datagram(src, {buf.data(), static_cast<size_t>(n)}, base::steady_now()))
                send_to(fr, o.to, o.bytes);
        }
        relay_cpu = thread_cpu_s() - c0;
    });
    std::thread receiver([&] {
        std::vector<uint8_t> buf(2048);
        while (!stop)
            if (::recv(fb, buf.data(), buf.size(), 0) > 0) received.fetch_add(1, std::memory_order_relaxed);
    });
    // The sender keeps at most `window` datagrams in flight, so the socket buffers never drop:
    // what is measured is the relay's pace.
    constexpr size_t kPayload = 1190, kWindow = 512;
    std::vector<uint8_t> payload(kPayload, 4);
    payload[0] = 4;  // a transport frame's type
    std::vector<std::vector<uint8_t>> frames;
    for (auto id : ids) frames.push_back(dht::relay_frame(dht::RelayKind::data, id, payload));
    uint64_t sent = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto until = t0 + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (sent - received.load(std::memory_order_relaxed) >= kWindow) {
            std::this_thread::yield();
            continue;
        }
        send_to(fa, ep_r, frames[sent % frames.size()]);
        ++sent;
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    uint64_t got = received.load();
    stop = true;
    relay_thread.join();
    receiver.join();
    ::close(fr);
    ::close(fa);
    ::close(fb);
    double dps = static_cast<double>(got) / wall;
    double bps = dps * kPayload;
    double cpu_us = got ? relay_cpu * 1e6 / static_cast<double>(got) : 0;
    // At the default cap (32 KiB/s per circuit), how many busy circuits one core of this relay
    // carries: its capacity divided by the cap, CPU-bound.
    double cap = static_cast<double>(dht::RelayLimits{}.rate);
    double per_core = relay_cpu > 0 ? bps / (relay_cpu / wall) / cap : 0;
    return {{"circuits", circuits},
            {"seconds", wall},
            {"datagram_bytes", kPayload},
            {"forwarded", got},
            {"lost", sent > got ? sent - got : 0},
            {"datagrams_per_s", dps},
            {"mb_per_s", bps / 1e6},
            {"relay_cpu_share", relay_cpu / wall},
            {"relay_cpu_us_per_datagram", cpu_us},
            {"busy_circuits_per_core_at_default_cap", per_core},
            {"dropped", relay.stats().dropped_unknown + relay.stats().dropped_spoofed + relay.stats().dropped_rate}};
}

}  // namespace bench
