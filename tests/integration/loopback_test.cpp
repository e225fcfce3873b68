// Real UDP sockets on 127.0.0.1, real crypto, one libuv loop: 50 nodes join and look each other up.
#include <doctest/doctest.h>

#include <cstdlib>

#include "cli/node_host.hpp"
#include "crypto/sodium_rng.hpp"

using namespace std::chrono_literals;

namespace {
double timeout_multiplier() {
    const char* m = std::getenv("TEST_TIMEOUT_MULTIPLIER");
    return m ? std::atof(m) : 1.0;
}
}  // namespace

TEST_CASE("loopback: 50 real nodes join through one and all look each other up") {
    net::Loop loop;
    {
        net::RecvBuffer buf{70000};
        dht::Decoder dec;
        crypto::SodiumRng rng;
        base::StderrLogger log{base::Level::warn};
        dht::Config cfg;
        auto turn = net::LoopTurn::make(loop);
        REQUIRE(turn);
        std::vector<std::unique_ptr<cli::NodeHost>> hosts;
        for (int i = 0; i < 50; ++i) {
            auto h = std::make_unique<cli::NodeHost>(loop, **turn, buf, dec, rng, log, cfg, crypto::Identity::generate());
            REQUIRE(h->bind(base::Endpoint::v4(127, 0, 0, 1, 0)).ok());
            REQUIRE(h->start().ok());
            hosts.push_back(std::move(h));
        }
        base::Endpoint boot = hosts[0]->local_endpoints().front();
        CHECK(boot.port != 0);
        for (size_t i = 1; i < hosts.size(); ++i) {
            hosts[i]->node().set_bootstrap({boot});
            hosts[i]->node().join(base::steady_now());
        }
        size_t done = 0, found = 0;
        bool timed_out = false;
        auto watchdog = net::Timer::make(loop, [&] { timed_out = true; loop.stop(); });
        REQUIRE(watchdog);
        (*watchdog)->start(static_cast<uint64_t>(20000 * timeout_multiplier()));
        auto phase = net::Timer::make(loop, [&] {
            for (size_t i = 0; i < hosts.size(); ++i) {
                size_t j = (i * 7 + 3) % hosts.size();
                if (j == i) j = (j + 1) % hosts.size();
                hosts[i]->node().find_node(hosts[j]->node().id(), [&](const dht::LookupResult& r) {
                    ++done;
                    found += r.found;
                    if (done == hosts.size()) loop.stop();
                }, base::steady_now());
                }
        });
        REQUIRE(phase);
        (*phase)->start(1500);  // let the joins settle first
        loop.run();
        CHECK_FALSE(timed_out);
        CHECK(done == hosts.size());
        CHECK(found == hosts.size());
        size_t min_contacts = SIZE_MAX;
        for (auto& h : hosts) min_contacts = std::min(min_contacts, h->node().table().size());
        CHECK(min_contacts >= 8);
        for (auto& h : hosts) CHECK(h->node().stats().dropped_total() == 0);
        watchdog->reset();
        phase->reset();
        hosts.clear();
        turn->reset();
    }
    // ~Loop drains close callbacks and reports leaked handles.
}
