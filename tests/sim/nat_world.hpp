#pragma once
// What the NAT and relay simulations share: the seed (SIM_SEED=N replays a failing run), a world
// with real crypto and 15 ± 5 ms links whose nodes are clients until reachable, and a network
// founded by public nodes.
#include <cstdlib>

#include "sim_world.hpp"

namespace natsim {

inline uint64_t seed() {
    const char* s = std::getenv("SIM_SEED");
    return s ? std::strtoull(s, nullptr, 10) : 42;
}

inline sim::WorldConfig config() {
    using namespace std::chrono_literals;
    sim::WorldConfig c;
    c.seed = seed();
    c.real_crypto = true;
    c.latency = 15ms;
    c.jitter = 5ms;
    c.dht.client_until_reachable = true;
    return c;
}

// `n` public nodes that found the network (given their public address, as an operator would),
// joined through the first.
inline void found_network(sim::World& w, size_t n) {
    w.spawn(n);
    for (size_t i = 0; i < n; ++i) w.node(i).set_public_address(w.endpoint(i));
    for (size_t i = 1; i < n; ++i) w.schedule_join(i, 0, w.now() + std::chrono::milliseconds(10 * i));
    w.run_for(std::chrono::seconds(3));
}

}  // namespace natsim
