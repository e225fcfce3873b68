// Sealed offers and answers (PROTOCOL.md §16.6): only the peer opens them, only the claimed
// author can have written them, and an offer counts once and only while fresh.
#include <doctest/doctest.h>

#include "base/hex.hpp"
#include "base/rng.hpp"
#include "dht/auth.hpp"
#include "dht/messages.hpp"
#include "session/offer.hpp"
#include "vectors.hpp"

namespace {
constexpr uint64_t kWall = 1'800'000'000'000;
session::Offer sample(base::Rng& rng) {
    session::Offer o;
    rng.fill(std::as_writable_bytes(std::span{o.nonce}));
    rng.fill(std::as_writable_bytes(std::span{o.key}));
    o.candidates = {{session::Candidate::Kind::lan, *base::Endpoint::parse("10.0.1.2:44544")},
                    {session::Candidate::Kind::reflexive, *base::Endpoint::parse("198.51.100.7:44544")},
                    {session::Candidate::Kind::lan, *base::Endpoint::parse("[fd00::2]:44544")}};
    return o;
}
}  // namespace

TEST_CASE("offer: sealed by alice for bob, opened by bob with every field intact") {
    base::SeededRng rng{5};
    auto alice = vectors::alice(), bob = vectors::bob();
    auto o = sample(rng);
    auto hex = session::seal_offer(alice, bob.public_key, o, kWall, rng);
    REQUIRE(hex);
    CHECK(hex->size() < 2048);  // fits a connect (dht::kMaxBlob)
    session::OfferOpener opener{bob};
    auto got = opener.open(*hex, alice.public_key, kWall + 1000);
    REQUIRE(got);
    CHECK_FALSE(got->answer);
    CHECK(got->nonce == o.nonce);
    CHECK(got->key == o.key);
    CHECK(got->candidates == o.candidates);
    CHECK(got->nat == session::NatInfo{});  // not sent while unknown
    CHECK_FALSE(got->birthday);
    SUBCASE("the writer's NAT and its birthday readiness travel with it") {
        auto o2 = sample(rng);
        o2.nat = {session::NatMapping::dependent, true};
        o2.birthday = true;
        auto h2 = session::seal_offer(alice, bob.public_key, o2, kWall, rng);
        REQUIRE(h2);
        auto g2 = opener.open(*h2, alice.public_key, kWall);
        REQUIRE(g2);
        CHECK(g2->nat == o2.nat);
        CHECK(g2->birthday);
    }
    SUBCASE("the same offer again opens as a repeat (answered the same, starting nothing new)") {
        auto again = opener.open(*hex, alice.public_key, kWall + 2000);
        REQUIRE(again);
        CHECK(again->repeated);
        CHECK_FALSE(got->repeated);
    }
}

TEST_CASE("offer: refused when tampered, for someone else, from someone else, stale, or malformed") {
    base::SeededRng rng{6};
    auto alice = vectors::alice(), bob = vectors::bob();
    auto carol = crypto::Identity::from_rng(rng);
    auto o = sample(rng);
    auto hex = *session::seal_offer(alice, bob.public_key, o, kWall, rng);
    session::OfferOpener bob_opens{bob}, carol_opens{carol};
    CHECK_FALSE(carol_opens.open(hex, alice.public_key, kWall));            // not for carol
    CHECK_FALSE(bob_opens.open(hex, carol.public_key, kWall));              // alice signed it, not carol
    CHECK_FALSE(bob_opens.open(hex, alice.public_key, kWall + 121'000));    // two minutes old
    CHECK_FALSE(bob_opens.open(hex, alice.public_key, kWall - 121'000));    // from the future
    CHECK_FALSE(bob_opens.open("zz" + hex.substr(2), alice.public_key, kWall));
    for (size_t i = 0; i < hex.size(); i += 7) {
        std::string bad = hex;
        bad[i] = bad[i] == '0' ? '1' : '0';
        session::OfferOpener fresh{bob};
        CHECK_FALSE(fresh.open(bad, alice.public_key, kWall));
    }
    // Well sealed but not an offer inside: refused with a reason, no exception.
    auto junk = crypto::seal_envelope(alice, bob.public_key, crypto::MessageId{}, kWall,
                                      std::span<const uint8_t>{reinterpret_cast<const uint8_t*>("[1,2"), 4}, rng);
    REQUIRE(junk);
    auto r = bob_opens.open(base::to_hex(std::span<const uint8_t>{*junk}), alice.public_key, kWall);
    CHECK(r.status().code() == base::Errc::malformed);
}

TEST_CASE("offer: a connect carrying it fits 1,200 bytes; LAN candidates give way to reflexive ones") {
    base::SeededRng rng{5};
    auto alice = vectors::alice(), bob = vectors::bob();
    auto o = sample(rng);
    o.candidates.clear();
    for (int i = 0; i < 7; ++i)
        o.candidates.push_back({session::Candidate::Kind::lan,
                                *base::Endpoint::parse("[fd00:db8:1234:5678:9abc:def0:1234:100" + std::to_string(i) + "]:44544")});
    auto reflexive = *base::Endpoint::parse("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65000");
    o.candidates.push_back({session::Candidate::Kind::reflexive, reflexive});
    auto hex = session::seal_offer(alice, bob.public_key, o, kWall, rng);
    REQUIRE(hex);
    CHECK(hex->size() <= session::kMaxOfferText);
    session::OfferOpener opener{bob};
    auto got = opener.open(*hex, alice.public_key, kWall);
    REQUIRE(got);
    REQUIRE(got->candidates.size() >= 2);
    CHECK(got->candidates.back().endpoint == reflexive);
    CHECK(got->candidates.front() == o.candidates.front());

    // The largest connect: forwarded by a rendezvous node (with "from" and an IPv6 "ep"), and
    // the reply that carries an answer of the same size back.
    dht::CryptoAuthenticator auth{bob, 4};
    dht::NodeId to{alice.public_key};
    dht::Message q;
    q.method = dht::Method::connect;
    q.txid = 1;
    q.sender = auth.self();
    q.read_only = true;
    q.target = to;
    q.blob = *hex;
    q.from = dht::NodeId{bob.public_key};
    q.ep = reflexive;
    CHECK(dht::encode(q, auth, &to).size() <= dht::kMaxDatagram);
    dht::Message r = q;
    r.kind = dht::Kind::reply;
    r.from.reset();
    r.observed = reflexive;
    CHECK(dht::encode(r, auth, &to).size() <= dht::kMaxDatagram);
}
