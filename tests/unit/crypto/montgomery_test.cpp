// The fast Edwards-to-Montgomery map must give exactly libsodium's u for every valid key, and
// refuse the inputs that have no image.
#include <doctest/doctest.h>
#include <sodium.h>

#include <array>

#include "crypto/montgomery.hpp"

namespace {
using Bytes = std::array<uint8_t, 32>;

Bytes from_libsodium(const Bytes& ed) {
    Bytes u{};
    REQUIRE(crypto_sign_ed25519_pk_to_curve25519(u.data(), ed.data()) == 0);
    return u;
}
}  // namespace

TEST_CASE("edwards_to_montgomery: equals libsodium on 3,000 random keys") {
    REQUIRE(sodium_init() >= 0);
    for (int i = 0; i < 3000; ++i) {
        Bytes pk{};
        std::array<uint8_t, 64> sk{};
        crypto_sign_keypair(pk.data(), sk.data());
        auto u = crypto::edwards_to_montgomery(pk);
        REQUIRE(u);
        REQUIRE(*u == from_libsodium(pk));
        // The map ignores the sign of x: the negated point has the same u.
        Bytes neg = pk;
        neg[31] ^= 0x80;
        REQUIRE(crypto::edwards_to_montgomery(neg) == u);
    }
}

TEST_CASE("edwards_to_montgomery: edge values") {
    Bytes y{};
    // y = 0 -> u = 1
    auto u = crypto::edwards_to_montgomery(y);
    REQUIRE(u);
    Bytes one{};
    one[0] = 1;
    CHECK(*u == one);
    // y = 1 (the neutral element) has no u
    CHECK_FALSE(crypto::edwards_to_montgomery(one));
    // y = p - 1 = -1 -> u = 0
    Bytes pm1{};
    pm1.fill(0xff);
    pm1[31] = 0x7f;
    pm1[0] = 0xec;
    u = crypto::edwards_to_montgomery(pm1);
    REQUIRE(u);
    CHECK(*u == Bytes{});
    // y = p, p + 1, 2^255 - 1: not canonical
    for (uint8_t low : {uint8_t{0xed}, uint8_t{0xee}, uint8_t{0xff}}) {
        Bytes big{};
        big.fill(0xff);
        big[31] = 0x7f;
        big[0] = low;
        CHECK_FALSE(crypto::edwards_to_montgomery(big));
        big[31] = 0xff;  // the sign bit does not make it canonical
        CHECK_FALSE(crypto::edwards_to_montgomery(big));
    }
    // y = 2: u = 3 / -1 = p - 3
    Bytes two{};
    two[0] = 2;
    u = crypto::edwards_to_montgomery(two);
    REQUIRE(u);
    Bytes expect{};
    expect.fill(0xff);
    expect[31] = 0x7f;
    expect[0] = 0xea;
    CHECK(*u == expect);
}
