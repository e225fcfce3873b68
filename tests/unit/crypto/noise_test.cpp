// Noise_IK_25519_ChaChaPoly_BLAKE2b against the published test vector of noise-c
// (rweather/noise-c, tests/vector/noise-c-basic.txt): independent implementations must agree
// byte for byte, or we are not speaking Noise.
#include <doctest/doctest.h>

#include <sodium.h>

#include <string>

#include "base/hex.hpp"
#include "base/rng.hpp"
#include "crypto/noise.hpp"

using namespace crypto::noise;

namespace {
std::vector<uint8_t> hx(const std::string& s) {
    auto v = base::from_hex(s);
    REQUIRE(v);
    return *v;
}
Bytes32 b32(const std::string& s) {
    auto v = hx(s);
    Bytes32 out{};
    std::copy(v.begin(), v.end(), out.begin());
    return out;
}
std::span<const uint8_t, 32> s32(const Bytes32& b) { return std::span<const uint8_t, 32>{b}; }
}  // namespace

TEST_CASE("noise IK: the noise-c test vector, byte for byte") {
    auto prologue = hx("50726f6c6f677565313233");
    auto init_static = b32("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1");
    auto init_ephemeral = b32("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a");
    auto resp_static_pub = b32("31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62");
    auto resp_static = b32("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893");
    auto resp_ephemeral = b32("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b");
    auto msg1 = hx("ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
                   "ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd232fe541af156ec6d0657602902a8c3e"
                   "e64e470f4b6fcd9298ce0b56fe20f86e60d9d933ec6e103ffb09e6001d6abb64");
    auto msg2 = hx("95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
                   "9f069b267a06b3de3ecb1043bcb09807c6cd101f3826192a65f11ef3fe4317");
    auto hash = hx("00e51d2aac81a9b8ebe441d6af3e1c8efc0f030cc608332edcb42588ff6a0ce2"
                   "6415ddc106e95277a5e6d54132f1e5245976b89caf96d262f1fe5a7f0c55c078");
    auto payload1 = hx("4c756477696720766f6e204d69736573");
    auto payload2 = hx("4d757272617920526f746862617264");

    base::SeededRng rng{1};  // unused: the ephemerals are fixed
    KeyPair is = KeyPair::from_secret(s32(init_static));
    KeyPair rs = KeyPair::from_secret(s32(resp_static));
    CHECK(rs.pub == resp_static_pub);

    auto ini = HandshakeIK::initiator(is, resp_static_pub, prologue);
    ini.set_ephemeral(s32(init_ephemeral));
    auto res = HandshakeIK::responder(rs, prologue);
    res.set_ephemeral(s32(resp_ephemeral));

    auto m1 = ini.write_message(payload1, rng);
    REQUIRE(m1);
    CHECK(base::to_hex(*m1) == base::to_hex(msg1));
    auto p1 = res.read_message(*m1);
    REQUIRE(p1);
    CHECK(*p1 == payload1);
    CHECK(res.remote_static() == is.pub);

    auto m2 = res.write_message(payload2, rng);
    REQUIRE(m2);
    CHECK(base::to_hex(*m2) == base::to_hex(msg2));
    auto p2 = ini.read_message(*m2);
    REQUIRE(p2);
    CHECK(*p2 == payload2);
    REQUIRE(ini.finished());
    REQUIRE(res.finished());

    auto ki = ini.split();
    auto kr = res.split();
    CHECK(base::to_hex(ki.handshake_hash) == base::to_hex(hash));
    CHECK(ki.handshake_hash == kr.handshake_hash);
    // The first transport messages of the vector: nonce 0, empty associated data.
    auto t1 = hx("462e20412e20486179656b");
    std::vector<uint8_t> c1(t1.size() + kTagLen);
    aead_encrypt(ki.send.data(), 0, {}, t1, c1.data());
    CHECK(base::to_hex(c1) == "cd54383060e7a28434cca27fb1cc524cfbabeb18181589df219d07");
    auto t2 = hx("4361726c204d656e676572");
    std::vector<uint8_t> c2(t2.size() + kTagLen);
    aead_encrypt(kr.send.data(), 0, {}, t2, c2.data());
    CHECK(base::to_hex(c2) == "a856d3bf0246bfc476c655009cd1ed677b8dcc5b349ae8ef2a05f2");
    std::vector<uint8_t> back(t1.size());
    CHECK(aead_decrypt(kr.recv.data(), 0, {}, c1, back.data()));
    CHECK(back == t1);
}

TEST_CASE("noise IK: a wrong responder key, flipped bytes and truncation all fail") {
    base::SeededRng rng{7};
    KeyPair is = KeyPair::generate(rng), rs = KeyPair::generate(rng), other = KeyPair::generate(rng);
    std::vector<uint8_t> prologue{'p'};
    auto make_m1 = [&](const Bytes32& to) {
        auto ini = HandshakeIK::initiator(is, to, prologue);
        auto m = ini.write_message(std::vector<uint8_t>{1, 2, 3}, rng);
        REQUIRE(m);
        return std::make_pair(std::move(ini), *m);
    };
    SUBCASE("message 1 for another responder") {
        auto [ini, m1] = make_m1(other.pub);
        auto res = HandshakeIK::responder(rs, prologue);
        CHECK_FALSE(res.read_message(m1));
    }
    SUBCASE("another prologue") {
        auto [ini, m1] = make_m1(rs.pub);
        std::vector<uint8_t> p2{'q'};
        auto res = HandshakeIK::responder(rs, p2);
        CHECK_FALSE(res.read_message(m1));
    }
    SUBCASE("every byte of both messages flipped, every truncation") {
        auto [ini, m1] = make_m1(rs.pub);
        for (size_t i = 0; i < m1.size(); ++i) {
            auto bad = m1;
            bad[i] ^= 0x01;
            auto res = HandshakeIK::responder(rs, prologue);
            CHECK_FALSE(res.read_message(bad));
        }
        for (size_t len = 0; len < m1.size(); ++len) {
            auto res = HandshakeIK::responder(rs, prologue);
            CHECK_FALSE(res.read_message(std::span{m1}.first(len)));
        }
        auto res = HandshakeIK::responder(rs, prologue);
        REQUIRE(res.read_message(m1));
        auto m2 = res.write_message({}, rng);
        REQUIRE(m2);
        for (size_t i = 0; i < m2->size(); ++i) {
            auto [ini2, m1b] = make_m1(rs.pub);
            auto res2 = HandshakeIK::responder(rs, prologue);
            REQUIRE(res2.read_message(m1b));
            auto good = res2.write_message({}, rng);
            REQUIRE(good);
            auto bad = *good;
            bad[i] ^= 0x80;
            CHECK_FALSE(ini2.read_message(bad));
        }
        for (size_t len = 0; len < m2->size(); ++len) {
            auto [ini3, m1c] = make_m1(rs.pub);
            auto res3 = HandshakeIK::responder(rs, prologue);
            REQUIRE(res3.read_message(m1c));
            auto good = res3.write_message({}, rng);
            CHECK_FALSE(ini3.read_message(std::span{*good}.first(len)));
        }
    }
    SUBCASE("an all-zero (small-order) ephemeral is refused") {
        auto [ini, m1] = make_m1(rs.pub);
        std::fill(m1.begin(), m1.begin() + 32, 0);
        auto res = HandshakeIK::responder(rs, prologue);
        CHECK_FALSE(res.read_message(m1));
    }
}

TEST_CASE("noise: ephemeral keys from the Ed25519 fixed-base table equal X25519(s, 9)") {
    base::SeededRng rng{11};
    for (int i = 0; i < 1000; ++i) {
        KeyPair kp = KeyPair::generate(rng);
        Bytes32 expect{};
        REQUIRE(crypto_scalarmult_base(expect.data(), kp.secret.data()) == 0);
        REQUIRE(kp.pub == expect);
    }
}
