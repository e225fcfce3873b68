// Delay and loss for the NAT lab, where the kernel has no sch_netem: an NFQUEUE consumer that
// holds each queued packet's verdict for a random delay and drops a share of them.
//
//   nfq_delay QUEUE MIN_MS MAX_MS LOSS SEED
//
// Run inside the lab's "inet" namespace with
//   iptables -A FORWARD -j NFQUEUE --queue-num QUEUE --queue-bypass
// so every packet between sites waits MIN..MAX ms (uniform) once, and is lost with probability
// LOSS. Packets between one pair of addresses leave in the order they came (a packet never
// overtakes an earlier one of its flow: TCP and the sessions see delay, not reordering); flows
// are independent of each other, as on real paths. (One queue for all flows made every packet
// wait for the slowest packet ahead of it: under the lab's background traffic a crossing took
// nearer 40 ms than the 30 ms mean, more so on busy paths, and relay RTTs looked ~30 ms too
// long.) Fine for chat and signalling rates, not for bulk.
// Prints "passed N dropped M" on SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;

struct State {
    std::mt19937_64 rng;
    double min_ms, max_ms, loss;
    std::multimap<Clock::time_point, uint32_t> held;   // release time -> packet id
    std::map<uint64_t, Clock::time_point> last_release;  // per (source, destination) IPv4 pair
    nfq_q_handle* q = nullptr;
    uint64_t passed = 0, dropped = 0;
};

int on_packet(nfq_q_handle* q, nfgenmsg*, nfq_data* nfa, void* data) {
    auto* st = static_cast<State*>(data);
    auto* ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (u(st->rng) < st->loss) {
        ++st->dropped;
        return nfq_set_verdict(q, id, NF_DROP, 0, nullptr);
    }
    double ms = st->min_ms + (st->max_ms - st->min_ms) * u(st->rng);
    auto at = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
    uint64_t flow = 0;
    unsigned char* pkt = nullptr;
    if (nfq_get_payload(nfa, &pkt) >= 20) std::memcpy(&flow, pkt + 12, 8);  // IPv4 source, destination
    auto& last = st->last_release[flow];
    if (at < last) at = last;  // keep the flow's order
    last = at;
    st->held.emplace(at, id);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: nfq_delay QUEUE MIN_MS MAX_MS LOSS SEED\n");
        return 2;
    }
    State st;
    int queue = std::atoi(argv[1]);
    st.min_ms = std::atof(argv[2]);
    st.max_ms = std::atof(argv[3]);
    st.loss = std::atof(argv[4]);
    st.rng.seed(std::strtoull(argv[5], nullptr, 10));
    signal(SIGTERM, [](int) { g_stop = 1; });
    signal(SIGINT, [](int) { g_stop = 1; });

    nfq_handle* h = nfq_open();
    if (!h) return std::perror("nfq_open"), 1;
    st.q = nfq_create_queue(h, static_cast<uint16_t>(queue), on_packet, &st);
    if (!st.q) return std::perror("nfq_create_queue"), 1;
    if (nfq_set_mode(st.q, NFQNL_COPY_PACKET, 20) < 0) return std::perror("nfq_set_mode"), 1;
    nfq_set_queue_maxlen(st.q, 16384);
    int fd = nfq_fd(h);
    std::fprintf(stderr, "nfq_delay: queue %d, %.0f-%.0f ms, loss %.3f\n", queue, st.min_ms, st.max_ms, st.loss);
    char buf[65536];
    while (!g_stop) {
        int wait_ms = 50;
        if (!st.held.empty()) {
            auto d = std::chrono::duration_cast<std::chrono::milliseconds>(st.held.begin()->first - Clock::now()).count();
            wait_ms = static_cast<int>(std::max<int64_t>(0, d));
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, wait_ms) > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) nfq_handle_packet(h, buf, static_cast<int>(n));
        }
        auto now = Clock::now();
        while (!st.held.empty() && st.held.begin()->first <= now) {
            nfq_set_verdict(st.q, st.held.begin()->second, NF_ACCEPT, 0, nullptr);
            st.held.erase(st.held.begin());
            ++st.passed;
        }
    }
    for (auto& [at, id] : st.held) nfq_set_verdict(st.q, id, NF_ACCEPT, 0, nullptr);
    std::printf("passed %llu dropped %llu\n", static_cast<unsigned long long>(st.passed),
                static_cast<unsigned long long>(st.dropped));
    nfq_destroy_queue(st.q);
    nfq_close(h);
    return 0;
}
