// Punch probes (PROTOCOL.md §16.7): 30 bytes, authenticated with the attempt's key.
#include <doctest/doctest.h>

#include "session/probe.hpp"

TEST_CASE("probe: round trip; a wrong key, a flipped byte or a wrong length is refused") {
    session::PunchKey key{}, other{};
    key.fill(7);
    other.fill(8);
    crypto::MessageId nonce{};
    nonce.fill(0xab);
    session::Probe p{true, session::tag_of(nonce), 0x01020304};
    auto bytes = session::encode_probe(p, key);
    REQUIRE(bytes.size() == session::kProbeSize);
    CHECK(bytes[0] == session::kProbeType);
    auto got = session::decode_probe(bytes, key);
    REQUIRE(got);
    CHECK(got->pong);
    CHECK(got->tag == p.tag);
    CHECK(got->seq == 0x01020304);
    CHECK(session::probe_tag(bytes) == p.tag);
    CHECK_FALSE(session::decode_probe(bytes, other));
    for (size_t i = 0; i < bytes.size(); ++i) {
        auto bad = bytes;
        bad[i] ^= 1;
        CHECK_FALSE(session::decode_probe(bad, key));
    }
    auto longer = bytes;
    longer.push_back(0);
    CHECK_FALSE(session::probe_tag(longer));
    CHECK_FALSE(session::decode_probe(std::span<const uint8_t>{bytes}.first(29), key));
}
