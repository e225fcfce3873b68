#include <doctest/doctest.h>

#include "base/rng.hpp"
#include "dht/node_id.hpp"

TEST_CASE("node id: XOR distance orders by shared prefix") {
    base::SeededRng rng{1};
    auto a = dht::NodeId::random(rng);
    CHECK(dht::common_prefix_length(a, a) == 256);
    for (int p = 0; p < 256; p += 7) {
        auto b = dht::random_with_prefix(a, p, rng);
        CHECK(dht::common_prefix_length(a, b) == p);
    }
    auto near = dht::random_with_prefix(a, 200, rng);
    auto far = dht::random_with_prefix(a, 3, rng);
    CHECK(dht::closer(near, far, a));
    CHECK_FALSE(dht::closer(far, near, a));
    CHECK_FALSE(dht::closer(a, a, a));
    CHECK(dht::distance(a, near) < dht::distance(a, far));
}

TEST_CASE("node id: hex parsing is strict") {
    CHECK(dht::NodeId::from_hex(std::string(64, 'a')));
    CHECK_FALSE(dht::NodeId::from_hex(std::string(63, 'a')));
    CHECK_FALSE(dht::NodeId::from_hex(std::string(65, 'a')));
    CHECK_FALSE(dht::NodeId::from_hex(std::string(63, 'a') + "g"));
    CHECK(dht::NodeId::hash_of("room") == dht::NodeId::hash_of("room"));
    CHECK(dht::NodeId::hash_of("room") != dht::NodeId::hash_of("rooM"));
}
