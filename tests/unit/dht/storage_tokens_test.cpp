#include <doctest/doctest.h>

#include "base/rng.hpp"
#include "dht/storage.hpp"
#include "dht/tokens.hpp"

using namespace std::chrono_literals;

namespace {
base::TimePoint at(base::Duration d) { return base::TimePoint{} + d; }
}

TEST_CASE("storage: values expire on time and quotas refuse without changing anything") {
    base::SeededRng rng{3};
    dht::MemoryStorage s{3, 2, 10};
    auto k1 = dht::NodeId::random(rng), k2 = dht::NodeId::random(rng);
    auto p1 = dht::NodeId::random(rng), p2 = dht::NodeId::random(rng);
    CHECK(s.put(k1, p1, "a", at(0s), at(10s)).ok());
    CHECK(s.put(k1, p1, "b", at(1s), at(10s)).ok());  // replaces: same publisher
    CHECK(s.size() == 1);
    CHECK(s.get(k1, at(2s), 10).front().data == "b");
    CHECK(s.put(k2, p1, "c", at(1s), at(20s)).ok());
    auto quota = s.put(dht::NodeId::random(rng), p1, "d", at(1s), at(20s));
    CHECK(quota.code() == base::Errc::limit);  // per-publisher
    CHECK(s.size() == 2);
    CHECK(s.put(k2, p2, "e", at(1s), at(5s)).ok());
    auto full = s.put(dht::NodeId::random(rng), p2, "f", at(1s), at(20s));
    CHECK(full.code() == base::Errc::limit);  // node-wide
    CHECK(s.put(k1, p2, std::string(11, 'x'), at(1s), at(20s)).code() == base::Errc::too_large);
    CHECK(s.size() == 3);
    CHECK(s.get(k2, at(2s), 10).size() == 2);
    CHECK(s.expire(at(6s)) == at(10s));
    CHECK(s.get(k2, at(6s), 10).size() == 1);
    s.expire(at(30s));
    CHECK(s.size() == 0);
    CHECK(s.all().empty());
}

TEST_CASE("tokens: bound to the requester's address and valid for one to two rotations") {
    base::SeededRng rng{4};
    dht::TokenIssuer t{rng, 5min, at(0s)};
    auto a = base::Endpoint::v4(127, 0, 0, 1, 1000), b = base::Endpoint::v4(127, 0, 0, 1, 1001);
    auto tok = t.issue(a, at(1s));
    CHECK(t.valid(tok, a, at(2s)));
    CHECK_FALSE(t.valid(tok, b, at(2s)));
    CHECK_FALSE(t.valid("", a, at(2s)));
    CHECK_FALSE(t.valid(tok.substr(1), a, at(2s)));
    CHECK(t.valid(tok, a, at(6min)));     // previous secret
    CHECK_FALSE(t.valid(tok, a, at(11min)));  // two rotations later
}
