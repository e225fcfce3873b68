#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "base/hex.hpp"
#include "dht/auth.hpp"
#include "dht/messages.hpp"
#include "fake_transport.hpp"
#include "vectors.hpp"

namespace {
std::string read_vector(const std::string& name) {
    std::ifstream f(std::string(KC_VECTORS_DIR) + "/dht/" + name + ".json", std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "missing golden file " << name);
    return {std::istreambuf_iterator<char>(f), {}};
}
}  // namespace

TEST_CASE("messages: every golden file decodes, authenticates and re-encodes to the same bytes") {
    auto a = vectors::alice(), b = vectors::bob();
    dht::CryptoAuthenticator auth_a{a, 4}, auth_b{b, 4};
    dht::NodeId id_a{a.public_key}, id_b{b.public_key};
    dht::Decoder dec;
    auto all = vectors::all();
    CHECK(all.size() == 38);
    for (auto& v : all) {
        INFO(v.name);
        std::string golden = read_vector(v.name);
        dht::Decoder::Failure fail{};
        auto& receiver = v.from_alice ? auth_b : auth_a;
        auto d = dec.decode(testing::bytes(golden), receiver, fail);
        REQUIRE_MESSAGE(d, fail.detail);
        CHECK(d->auth == (v.hello ? dht::AuthKind::none : dht::AuthKind::mac));
        CHECK(d->msg.kind == v.msg.kind);
        CHECK(d->msg.txid == v.msg.txid);
        CHECK(d->msg.sender == v.msg.sender);
        CHECK(d->msg.target == v.msg.target);
        CHECK(d->msg.nodes == v.msg.nodes);
        CHECK(d->msg.values == v.msg.values);
        CHECK(d->msg.token == v.msg.token);
        CHECK(d->msg.error_code == v.msg.error_code);
        CHECK(d->msg.read_only == v.msg.read_only);
        CHECK(d->msg.blob == v.msg.blob);
        CHECK(d->msg.from == v.msg.from);
        CHECK(d->msg.ep == v.msg.ep);
        CHECK(d->msg.here == v.msg.here);
        CHECK(d->msg.helpers == v.msg.helpers);
        CHECK(d->msg.ttl_s == v.msg.ttl_s);
        d->msg.method = v.msg.method;  // replies do not carry their method
        std::string again = v.from_alice ? dht::encode(d->msg, auth_a, v.hello ? nullptr : &id_b)
                                         : dht::encode(d->msg, auth_b, &id_a);
        CHECK(again == golden);
    }
}

TEST_CASE("messages: docs/PROTOCOL.md shows every golden file verbatim") {
    std::ifstream f(std::string(KC_VECTORS_DIR) + "/../../docs/PROTOCOL.md");
    REQUIRE(f.good());
    std::string doc{std::istreambuf_iterator<char>(f), {}};
    for (auto& v : vectors::all()) {
        INFO(v.name);
        CHECK(doc.find(read_vector(v.name)) != std::string::npos);
    }
}

TEST_CASE("messages: truncation at every length and every flipped byte are rejected") {
    auto a = vectors::alice(), b = vectors::bob();
    dht::CryptoAuthenticator auth_b{b, 4};
    dht::Decoder dec;
    for (const char* name : {"find_node_reply", "store_query", "ping_query", "connect_forwarded",
                             "nat_check_reply", "find_node_reply_here", "announce_query"}) {
        INFO(name);
        std::string golden = read_vector(name);
        dht::CryptoAuthenticator auth_a{a, 4};
        std::string n = name;
        bool to_alice = n == "find_node_reply" || n == "nat_check_reply" || n == "find_node_reply_here";
        auto& receiver = to_alice ? auth_a : auth_b;
        for (size_t n = 0; n < golden.size(); ++n) {
            dht::Decoder::Failure fail{};
            CHECK_FALSE(dec.decode(testing::bytes(golden.substr(0, n)), receiver, fail));
        }
        for (size_t i = 0; i < golden.size(); ++i) {
            std::string bad = golden;
            bad[i] = static_cast<char>(bad[i] ^ 0x01);
            dht::Decoder::Failure fail{};
            INFO("byte " << i);
            CHECK_FALSE(dec.decode(testing::bytes(bad), receiver, fail));
        }
    }
}

TEST_CASE("messages: hostile shapes are dropped with a reason, never thrown") {
    auto b = vectors::bob();
    dht::CryptoAuthenticator auth_b{b, 4};
    dht::Decoder dec{2000};
    auto reason = [&](const std::string& dg) {
        dht::Decoder::Failure fail{};
        auto d = dec.decode(testing::bytes(dg), auth_b, fail);
        REQUIRE_FALSE(d);
        return fail.reason;
    };
    std::string mac = ",\"mac\":\"" + std::string(32, '0') + "\"}";
    CHECK(reason("") == dht::DropReason::truncated);
    CHECK(reason("{}") == dht::DropReason::truncated);
    CHECK(reason(std::string(3000, ' ')) == dht::DropReason::oversized);
    CHECK(reason("[1,2,3" + mac) == dht::DropReason::bad_json);
    CHECK(reason(std::string("\xff\xfe{\"v\":1") + mac) == dht::DropReason::bad_json);
    CHECK(reason("{\"v\":1,\"y\":\"q\"" + mac) == dht::DropReason::bad_version);
    CHECK(reason("{\"v\":2,\"y\":\"q\"" + mac) == dht::DropReason::bad_version);
    CHECK(reason("{\"v\":3,\"y\":\"q\"" + mac) == dht::DropReason::bad_version);
    CHECK(reason("{\"v\":5,\"y\":\"q\"" + mac) == dht::DropReason::bad_version);
    CHECK(reason("{\"v\":\"1\",\"y\":\"q\"" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"t\":5" + mac) == dht::DropReason::bad_schema);
    std::string id(64, 'a');
    CHECK(reason("{\"v\":4,\"y\":\"x\",\"t\":\"0000000000000001\",\"id\":\"" + id + "\"" + mac) ==
          dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"q\":\"find_node\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"a\":{\"target\":17}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"r\":{\"nodes\":[[\"" + id + "\",\"1.2.3.4\"]]}" + mac) == dht::DropReason::bad_schema);
    // NAT traversal fields (PROTOCOL.md §16).
    std::string q = "{\"v\":4,\"y\":\"q\",\"q\":\"connect\",\"t\":\"0000000000000001\",\"id\":\"" + id + "\"";
    std::string target = "\"target\":\"" + id + "\"";
    CHECK(reason(q + ",\"ro\":2,\"a\":{" + target + ",\"offer\":\"00\"}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason(q + ",\"a\":{" + target + ",\"offer\":\"AB+D\"}" + mac) == dht::DropReason::bad_schema);  // base64url only
    CHECK(reason(q + ",\"a\":{" + target + ",\"offer\":\"ab=\"}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason(q + ",\"a\":{" + target + ",\"offer\":\"a\"}" + mac) == dht::DropReason::bad_schema);
    {
        dht::Decoder big;
        dht::Decoder::Failure fail{};
        std::string dg = q + ",\"a\":{" + target + ",\"offer\":\"" + std::string(dht::kMaxBlob + 2, 'a') + "\"}" + mac;
        CHECK_FALSE(big.decode(testing::bytes(dg), auth_b, fail));
        CHECK(fail.reason == dht::DropReason::bad_schema);
    }
    CHECK(reason(q + ",\"a\":{" + target + ",\"offer\":\"00\",\"from\":\"" + id + "\"}" + mac) ==
          dht::DropReason::bad_schema);  // forwarded without the asker's endpoint
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"r\":{\"here\":\"nowhere\"}" + mac) == dht::DropReason::bad_schema);
    // Relays (PROTOCOL.md §17): flags are 0 or 1, circuit ids 16 hex and not zero, a passed-on
    // query names its circuit.
    std::string rq = "{\"v\":4,\"y\":\"q\",\"q\":\"relay\",\"t\":\"0000000000000001\",\"id\":\"" + id + "\"";
    CHECK(reason(rq + ",\"a\":{" + target + ",\"from\":\"" + id + "\"}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason(rq + ",\"a\":{" + target + ",\"from\":\"" + id + "\",\"c\":\"0000000000000000\"}" + mac) ==
          dht::DropReason::bad_schema);
    CHECK(reason(rq + ",\"a\":{" + target + ",\"from\":\"" + id + "\",\"c\":\"12\"}" + mac) ==
          dht::DropReason::bad_schema);
    CHECK(reason(rq + ",\"a\":{}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"r\":{\"relay\":2}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"r\":{\"c\":\"xyz\"}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"q\":\"announce\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"a\":{\"ttl\":60,\"relay\":\"yes\"}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"r\":{\"helpers\":[[\"" + id + "\"]]}" + mac) == dht::DropReason::bad_schema);
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"r\":{\"helpers\":[]}" + mac) == dht::DropReason::bad_schema);
    // Only a ping may come without an authenticator (a hello, PROTOCOL.md §2), and only if it has
    // no authenticator member anywhere: not a broken one, not a v3 signature.
    std::string bare = "{\"v\":4,\"y\":\"q\",\"q\":\"find_node\",\"t\":\"0000000000000001\",\"id\":\"" +
                       dht::NodeId{vectors::alice().public_key}.hex();
    CHECK(reason(bare + "\",\"a\":{\"target\":\"" + id + "\"}}") == dht::DropReason::bad_auth);
    std::string hello = "{\"v\":4,\"y\":\"q\",\"q\":\"ping\",\"t\":\"0000000000000001\",\"id\":\"" +
                        dht::NodeId{vectors::alice().public_key}.hex() + "\",\"a\":{}";
    CHECK(reason(hello + ",\"sig\":\"" + std::string(128, '0') + "\"}") == dht::DropReason::bad_auth);
    CHECK(reason(hello + ",\"mac\":\"00\"}") == dht::DropReason::bad_auth);
    CHECK(reason(hello + ",\"mac\":\"" + std::string(32, '0') + "\",\"x\":1}") == dht::DropReason::bad_auth);
    CHECK(reason("{\"v\":4,\"y\":\"r\",\"t\":\"0000000000000001\",\"id\":\"" + id + "\",\"r\":{}}") ==
          dht::DropReason::bad_auth);  // a reply without a MAC
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"q\":\"pong\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"a\":{}}") == dht::DropReason::bad_auth);  // unknown method, no MAC
    CHECK(reason(hello + ",\"b\":1}") == dht::DropReason::bad_auth);  // a hello ends in its arguments
    {  // control: a hello, with an unknown member before its arguments, passes as one
        dht::Decoder::Failure fail{};
        std::string good = hello;
        good.insert(good.find(",\"a\":{}"), ",\"b\":1");
        auto d = dec.decode(testing::bytes(good + "}"), auth_b, fail);
        REQUIRE_MESSAGE(d, fail.detail);
        CHECK(d->auth == dht::AuthKind::none);
    }
    // A hello's answer is MAC'd for the claimed ID, so that must be a usable key (y = 1 is not).
    std::string one = "01" + std::string(62, '0');
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"q\":\"ping\",\"t\":\"0000000000000001\",\"id\":\"" + one +
                 "\",\"a\":{}}") == dht::DropReason::bad_auth);
    // The signed ping that protocol v3 sent to a bootstrap address is refused.
    std::string v3_signed = "{\"v\":3,\"y\":\"q\",\"q\":\"ping\",\"t\":\"6b0e0e0005060708\",\"id\":\"" +
                            dht::NodeId{vectors::alice().public_key}.hex() + "\",\"a\":{},\"sig\":\"" +
                            std::string(128, 'a') + "\"}";
    CHECK(reason(v3_signed) == dht::DropReason::bad_auth);
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"q\":\"ping\",\"t\":\"0000000000000001\",\"id\":\"" + id +
                 "\",\"a\":{}" + mac) == dht::DropReason::bad_auth);  // wrong MAC
    CHECK(reason("{\"v\":4,\"y\":\"q\",\"q\":\"ping\",\"t\":\"0000000000000001\",\"id\":\"" +
                 dht::NodeId{b.public_key}.hex() + "\",\"a\":{}" + mac) == dht::DropReason::self_id);
}

TEST_CASE("messages: the direct encoder of hot messages writes the same bytes as the general one") {
    auto a = vectors::alice(), b = vectors::bob();
    dht::CryptoAuthenticator auth{a, 4};
    dht::NodeId id_b{b.public_key};
    base::SeededRng rng{11};
    for (int i = 0; i < 2000; ++i) {
        dht::Message m;
        m.kind = rng.uniform(2) ? dht::Kind::query : dht::Kind::reply;
        m.method = static_cast<dht::Method>(rng.uniform(3));  // ping, find_node, find_value
        m.txid = rng.next_u64();
        m.sender = dht::NodeId{a.public_key};
        m.target = dht::NodeId::random(rng);
        m.read_only = rng.uniform(2) == 0;
        if (m.kind == dht::Kind::reply) {
            if (rng.uniform(2)) m.observed = rng.uniform(2) ? base::Endpoint::v4(10, 0, 0, static_cast<uint8_t>(i), 4000)
                                                            : *base::Endpoint::parse("[2001:db8::" + std::to_string(i % 100) + "]:44544");
            if (rng.uniform(2)) m.token = base::to_hex(std::span<const uint8_t>{m.target.bytes()}).substr(0, 16);
            m.has_nodes = rng.uniform(3) != 0;
            if (m.has_nodes)
                for (uint64_t n = rng.uniform(21); n > 0; --n)
                    m.nodes.push_back({dht::NodeId::random(rng), base::Endpoint::v4(192, 0, 2, static_cast<uint8_t>(n), 1000 + static_cast<uint16_t>(n))});
        }
        const dht::NodeId* to = rng.uniform(4) ? &id_b : nullptr;
        if (m.kind == dht::Kind::reply && !to) to = &id_b;  // replies are never hellos
        CHECK(dht::encode(m, auth, to) == dht::seal(dht::encode_general(m), auth, to));
    }
}
