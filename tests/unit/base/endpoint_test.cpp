#include <doctest/doctest.h>

#include <cctype>

#include "base/endpoint.hpp"
#include "base/hex.hpp"
#include "base/rng.hpp"

TEST_CASE("endpoint: private-use addresses are LAN addresses") {
    for (const char* p : {"10.1.2.3:1", "172.16.0.1:1", "172.31.255.1:1", "192.168.1.1:1", "[fd00::1]:1", "[fe80::1]:1"})
        CHECK(base::Endpoint::parse(p)->is_private());
    for (const char* p : {"11.1.2.3:1", "172.32.0.1:1", "192.169.1.1:1", "198.51.100.1:1", "[2001:db8::1]:1", "127.0.0.1:1"})
        CHECK_FALSE(base::Endpoint::parse(p)->is_private());
}

TEST_CASE("endpoint: parses and prints IPv4 and bracketed IPv6") {
    auto a = base::Endpoint::parse("127.0.0.1:4000");
    REQUIRE(a);
    CHECK(a->to_string() == "127.0.0.1:4000");
    CHECK(a->is_loopback());
    auto b = base::Endpoint::parse("[::1]:5");
    REQUIRE(b);
    CHECK(b->is_v6());
    CHECK(b->to_string() == "[::1]:5");
}

TEST_CASE("endpoint: rejects malformed text with a reason") {
    for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:70000", "::1:5", "[::1]5", "host:80", "1.2.3.4:-1",
                            "1.2.3.4:12ab"}) {
        INFO(bad);
        auto r = base::Endpoint::parse(bad);
        CHECK_FALSE(r);
        CHECK_FALSE(r.status().detail().empty());
    }
}

TEST_CASE("hex: round trip and rejects odd or non-hex input") {
    std::vector<uint8_t> v{0, 1, 0xab, 0xff};
    CHECK(base::to_hex(std::span<const uint8_t>{v}) == "0001abff");
    CHECK(*base::from_hex("0001ABff") == v);
    CHECK_FALSE(base::from_hex("abc"));
    CHECK_FALSE(base::from_hex("zz"));
}

TEST_CASE("hex: every byte round-trips and every other character is refused, in either digit") {
    std::vector<uint8_t> all(256);
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
    std::string hex = base::to_hex(std::span<const uint8_t>{all});
    CHECK(hex.substr(0, 8) == "00010203");
    CHECK(hex.substr(hex.size() - 4) == "feff");
    CHECK(*base::from_hex(hex) == all);
    std::string appended = "x";
    base::append_hex(appended, std::span<const uint8_t>{all}.first(2));
    CHECK(appended == "x0001");
    for (int c = 0; c < 256; ++c) {
        bool digit = std::isxdigit(c) != 0;
        std::string hi{static_cast<char>(c), '0'}, lo{'0', static_cast<char>(c)};
        CHECK(base::from_hex(hi).has_value() == digit);
        CHECK(base::from_hex(lo).has_value() == digit);
    }
}

TEST_CASE("endpoint: formatting at the edges of each field") {
    CHECK(base::Endpoint::v4(255, 255, 255, 255, 65535).to_string() == "255.255.255.255:65535");
    CHECK(base::Endpoint::v4(0, 9, 10, 100, 0).to_string() == "0.9.10.100:0");
    std::string out = "ip=";
    base::Endpoint::parse("[2001:db8::1]:443")->append_to(out);
    CHECK(out == "ip=[2001:db8::1]:443");
}

TEST_CASE("seeded rng: the same seed gives the same stream") {
    base::SeededRng a{42}, b{42}, c{43};
    for (int i = 0; i < 100; ++i) CHECK(a.next_u64() == b.next_u64());
    CHECK(a.next_u64() != c.next_u64());
    for (int i = 0; i < 1000; ++i) CHECK(a.uniform(7) < 7);
}
