#include <doctest/doctest.h>

#include "base/hex.hpp"
#include "base/logger.hpp"
#include "dht/node.hpp"
#include "fake_transport.hpp"
#include "vectors.hpp"

using namespace std::chrono_literals;

namespace {

struct Fixture {
    crypto::Identity bob = vectors::bob(), alice = vectors::alice(), carol = crypto::Identity::generate();
    dht::Config cfg;
    dht::CryptoAuthenticator auth_bob{bob, 16}, auth_alice{alice, 16}, auth_carol{carol, 16};
    dht::NodeId id_bob{bob.public_key}, id_alice{alice.public_key}, id_carol{carol.public_key};
    testing::FakeTransport net;
    dht::Decoder dec;
    base::SeededRng rng{5};
    base::CaptureLogger log{base::Level::debug};
    base::TimePoint now = base::TimePoint{} + 100s;
    dht::Node node{cfg, auth_bob, net, dec, rng, log, now};
    base::Endpoint alice_ep = base::Endpoint::v4(127, 0, 0, 2, 4000);
    uint64_t txid = 1;
    // An mbox_put's expiry and its author's item signature (PROTOCOL.md §14).
    void sign_item(dht::Message& q, dht::Authenticator& author, uint32_t ttl_s) {
        q.exp = dht::wall_seconds(now, {}) + ttl_s;
        auto b = dht::item_signed_bytes(q.target, author.self(), q.slot, q.exp, q.value);
        q.isig = author.sign({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
    }
    // A fresh query's txid: our clock in its high half (PROTOCOL.md §4), a counter below.
    uint64_t next_txid() { return (uint64_t{dht::wall_seconds(now, {})} << 32) | txid++; }

    std::string query(dht::Method m, const dht::NodeId* target = nullptr, dht::Authenticator* as = nullptr) {
        dht::Message q;
        q.method = m;
        q.txid = next_txid();
        q.sender = (as ? as : &auth_alice)->self();
        if (target) q.target = *target;
        return dht::encode(q, as ? *as : auth_alice, &id_bob);
    }
    dht::Message message(dht::Method m, const dht::NodeId& sender, const dht::NodeId& target) {
        dht::Message q;
        q.method = m;
        q.txid = next_txid();
        q.sender = sender;
        q.target = target;
        return q;
    }
    std::optional<dht::Message> last_reply() {
        if (net.sent.empty()) return std::nullopt;
        dht::Decoder::Failure f{};
        auto d = dec.decode(testing::bytes(net.sent.back().data), auth_alice, f);
        if (!d) return std::nullopt;
        return d->msg;
    }
    void deliver(const std::string& dg) {
        node.on_datagram(alice_ep, testing::bytes(dg), now);
        node.tick(now);
    }
};

}  // namespace

TEST_CASE("node: answers ping with the address it saw, and learns the sender") {
    Fixture f;
    f.deliver(f.query(dht::Method::ping));
    auto r = f.last_reply();
    REQUIRE(r);
    CHECK(r->kind == dht::Kind::reply);
    REQUIRE(r->observed);
    CHECK(*r->observed == f.alice_ep);
    CHECK(f.node.table().find(f.id_alice));
}

// PROTOCOL.md §2: a joiner that knows only an address sends a hello (a ping without an
// authenticator). It gets a pong MAC'd for the ID it claims, which names ours; it proves nothing,
// so it changes nothing: no routing entry, no NAT evidence, no reply larger than 3x.
TEST_CASE("node: a hello gets a MAC'd pong naming our ID, and changes nothing") {
    Fixture f;
    dht::Message q = f.message(dht::Method::ping, f.id_alice, f.id_alice);
    std::string hello = dht::encode(q, f.auth_alice, nullptr);
    CHECK(hello.find("\"mac\"") == std::string::npos);
    f.deliver(hello);
    REQUIRE(f.net.sent.size() == 1);
    CHECK(f.net.sent.back().data.size() < 3 * hello.size());
    auto r = f.last_reply();  // decoded (MAC checked) as alice
    REQUIRE(r);
    CHECK(r->kind == dht::Kind::reply);
    CHECK(r->sender == f.id_bob);
    CHECK(r->txid == q.txid);
    REQUIRE(r->observed);
    CHECK(*r->observed == f.alice_ep);
    CHECK_FALSE(f.node.table().find(f.id_alice));
    CHECK(f.node.stats().hellos == 1);
    // Carol cannot check the pong: it is not for her.
    dht::Decoder::Failure fail{};
    CHECK_FALSE(f.dec.decode(testing::bytes(f.net.sent.back().data), f.auth_carol, fail));
    // Without an authenticator, anything but a ping is dropped unanswered.
    dht::Message fq = f.message(dht::Method::find_node, f.id_alice, f.id_alice);
    f.deliver(dht::encode(fq, f.auth_alice, nullptr));
    CHECK(f.net.sent.size() == 1);
    CHECK(f.node.stats().dropped[static_cast<size_t>(dht::DropReason::bad_auth)] == 1);
    // A MAC'd query afterwards is what puts alice in the table.
    f.deliver(f.query(dht::Method::find_node, &f.id_alice));
    CHECK(f.node.table().find(f.id_alice));
}

// The join, seen on the wire: an address of unknown ID gets a hello, then a MAC'd find_node for
// the ID its pong named. No query leaves without a MAC bound to its recipient but the hello.
TEST_CASE("node: joining through an address of unknown ID: hello, then a MAC'd find_node") {
    Fixture f;
    testing::FakeTransport anet;
    dht::Decoder adec;
    base::SeededRng arng{6};
    dht::Node alice{f.cfg, f.auth_alice, anet, adec, arng, f.log, f.now};
    base::Endpoint bob_ep = base::Endpoint::v4(127, 0, 0, 1, 5000);
    alice.set_bootstrap({bob_ep});
    alice.join(f.now);
    auto pump = [&] {
        for (int round = 0; round < 20; ++round) {
            bool moved = false;
            auto a_out = std::move(anet.sent);
            anet.sent.clear();
            for (auto& d : a_out) {
                if (!(d.to == bob_ep)) continue;
                f.deliver(d.data);
                moved = true;
            }
            auto b_out = std::move(f.net.sent);
            f.net.sent.clear();
            for (auto& d : b_out) {
                alice.on_datagram(bob_ep, testing::bytes(d.data), f.now);
                alice.tick(f.now);
                moved = true;
            }
            if (!moved) break;
        }
    };
    REQUIRE(anet.sent.size() == 1);
    std::string first = anet.sent.front().data;
    CHECK(first.find("\"q\":\"ping\"") != std::string::npos);
    CHECK(first.find("\"mac\"") == std::string::npos);
    f.deliver(first);
    anet.sent.clear();
    REQUIRE(f.net.sent.size() == 1);
    alice.on_datagram(bob_ep, testing::bytes(f.net.sent.front().data), f.now);
    alice.tick(f.now);
    f.net.sent.clear();
    CHECK(alice.table().find(f.id_bob));  // the pong proved bob's ID
    REQUIRE(anet.sent.size() >= 1);
    std::string second = anet.sent.front().data;
    CHECK(second.find("\"q\":\"find_node\"") != std::string::npos);
    dht::Decoder::Failure fail{};
    auto d = f.dec.decode(testing::bytes(second), f.auth_bob, fail);
    REQUIRE_MESSAGE(d, fail.detail);
    CHECK(d->auth == dht::AuthKind::mac);
    pump();
    CHECK(f.node.table().find(f.id_alice));
    CHECK(f.node.stats().hellos == 1);
}

// Issue #13 §1: the first query of a join (to an address whose ID the joiner does not know) was
// signed, so it named no recipient: replayed to another node from the attacker's address within
// the freshness window, it put the joiner into that node's table at the attacker's address.
// Now it is a hello, which plants nothing, and whose answer only the joiner can check.
TEST_CASE("node: a joiner's first query, replayed to another node from elsewhere, plants nothing") {
    Fixture f;  // bob is the node attacked
    testing::FakeTransport anet;
    dht::Decoder adec;
    base::SeededRng arng{6};
    dht::Node alice{f.cfg, f.auth_alice, anet, adec, arng, f.log, f.now};
    alice.set_bootstrap({base::Endpoint::v4(127, 0, 0, 1, 5000)});  // some bootstrap node, not bob
    alice.join(f.now);
    REQUIRE(anet.sent.size() == 1);
    auto attacker = base::Endpoint::v4(127, 0, 0, 66, 6666);
    f.node.on_datagram(attacker, testing::bytes(anet.sent.front().data), f.now);
    f.node.tick(f.now);
    CHECK_FALSE(f.node.table().find(f.id_alice));
    // Whatever bob sent back is small (no contacts) and useless to the attacker.
    for (auto& d : f.net.sent) {
        CHECK(d.data.size() < 3 * anet.sent.front().data.size());
        CHECK(d.data.find("\"nodes\"") == std::string::npos);
    }
}

TEST_CASE("node: store needs a token from an earlier find_value reply") {
    Fixture f;
    auto key = dht::NodeId::hash_of("k");
    dht::Message s;
    s.method = dht::Method::store;
    s.txid = 500;
    s.sender = f.id_alice;
    s.target = key;
    s.token = "0000000000000000";
    s.value = "v";
    s.ttl_s = 60;
    f.deliver(dht::encode(s, f.auth_alice, &f.id_bob));
    auto e = f.last_reply();
    REQUIRE(e);
    CHECK(e->kind == dht::Kind::error);
    CHECK(e->error_code == dht::kErrBadToken);
    CHECK(f.node.storage().size() == 0);

    f.deliver(f.query(dht::Method::find_value, &key));
    auto fv = f.last_reply();
    REQUIRE(fv);
    REQUIRE_FALSE(fv->token.empty());
    s.txid = 501;
    s.token = fv->token;
    f.deliver(dht::encode(s, f.auth_alice, &f.id_bob));
    auto ok = f.last_reply();
    REQUIRE(ok);
    CHECK(ok->kind == dht::Kind::reply);
    CHECK(f.node.storage().size() == 1);

    SUBCASE("the same token from another address is refused") {
        s.txid = 502;
        f.node.on_datagram(base::Endpoint::v4(127, 0, 0, 9, 4000), testing::bytes(dht::encode(s, f.auth_alice, &f.id_bob)), f.now);
        dht::Decoder::Failure fail{};
        auto d = f.dec.decode(testing::bytes(f.net.sent.back().data), f.auth_alice, fail);
        REQUIRE(d);
        CHECK(d->msg.error_code == dht::kErrBadToken);
    }
    SUBCASE("an oversized value is refused with error 206") {
        s.txid = 503;
        s.value = std::string(f.cfg.max_value_size + 1, 'x');
        f.deliver(dht::encode(s, f.auth_alice, &f.id_bob));
        CHECK(f.last_reply()->error_code == dht::kErrValueTooLarge);
        CHECK(f.node.storage().size() == 1);
    }
}

TEST_CASE("node: hostile datagrams are dropped, counted, unanswered, and change nothing") {
    Fixture f;
    auto key = dht::NodeId::hash_of("k");
    f.deliver(f.query(dht::Method::ping));  // alice is a contact now
    size_t contacts = f.node.table().size();
    size_t sent = f.net.sent.size();
    auto dropped = [&](dht::DropReason r) { return f.node.stats().dropped[static_cast<size_t>(r)]; };

    SUBCASE("truncated at every length") {
        std::string good = f.query(dht::Method::find_value, &key);
        for (size_t n = 0; n < good.size(); ++n) f.deliver(good.substr(0, n));
        CHECK(f.node.stats().dropped_total() == good.size());
    }
    SUBCASE("a MAC made by someone else under alice's ID (wrong ID proof)") {
        dht::Message q;
        q.method = dht::Method::ping;
        q.txid = 77;
        q.sender = f.id_alice;  // claims alice ...
        std::string dg = dht::encode(q, f.auth_carol, &f.id_bob);  // ... but carol's key made it
        f.deliver(dg);
        CHECK(dropped(dht::DropReason::bad_auth) == 1);
    }
    SUBCASE("replayed query") {
        std::string dg = f.query(dht::Method::find_node, &key);
        f.deliver(dg);
        size_t after_first = f.net.sent.size();
        f.deliver(dg);
        CHECK(dropped(dht::DropReason::replayed) == 1);
        CHECK(f.net.sent.size() == after_first);
        sent = after_first;
    }
    SUBCASE("reply to a transaction we never opened") {
        dht::Message r;
        r.kind = dht::Kind::reply;
        r.txid = 12345;
        r.sender = f.id_alice;
        f.deliver(dht::encode(r, f.auth_alice, &f.id_bob));
        CHECK(dropped(dht::DropReason::unknown_transaction) == 1);
    }
    SUBCASE("wrong types and garbage") {
        f.deliver("{\"v\":4,\"y\":\"q\",\"q\":\"ping\",\"t\":[],\"id\":{},\"a\":{},\"mac\":\"00000000000000000000000000000000\"}");
        f.deliver(std::string(100, '\0'));
        f.deliver(std::string(70000, '{'));
        CHECK(f.node.stats().dropped_total() == 3);
    }
    CHECK(f.node.table().size() == contacts);
    CHECK(f.node.storage().size() == 0);
    CHECK(f.net.sent.size() == sent);
}

TEST_CASE("node: an unknown method gets error 204") {
    Fixture f;
    std::string dg = f.query(dht::Method::ping);
    auto pos = dg.find("\"ping\"");
    dg.replace(pos, 6, "\"pong\"");
    // Re-MAC the edited datagram so only the method is wrong.
    std::string body = dg.substr(0, dg.size() - 42);
    auto mac = f.auth_alice.mac(f.id_bob, testing::bytes(body));
    dg = body + ",\"mac\":\"" + base::to_hex(std::span<const uint8_t>{*mac}) + "\"}";
    f.deliver(dg);
    auto r = f.last_reply();
    REQUIRE(r);
    CHECK(r->kind == dht::Kind::error);
    CHECK(r->error_code == dht::kErrMethodUnknown);
    // Counted as what it is, not as a ping (it did not answer one).
    auto& st = f.node.stats();
    CHECK(st.unknown_method_in.packets == 1);
    CHECK(st.unknown_method_out.packets == 1);
    CHECK(st.by_method[static_cast<size_t>(dht::Method::ping)].query_in.packets == 0);
    CHECK(st.by_method[static_cast<size_t>(dht::Method::ping)].error_out.packets == 0);
}

TEST_CASE("node: a request to a silent contact times out, fails the contact, and fires once") {
    Fixture f;
    f.deliver(f.query(dht::Method::ping));
    int fired = 0;
    dht::LookupResult result;
    f.node.find_node(dht::NodeId::hash_of("x"), [&](const dht::LookupResult& r) { ++fired; result = r; }, f.now);
    CHECK(fired == 0);  // never inside the registering call
    for (int s = 0; s < 10; ++s) {
        f.now += 1s;
        f.node.tick(f.now);
    }
    CHECK(fired == 1);
    CHECK_FALSE(result.found);
    // Asked twice (a retry after the short timeout), both attempts time out.
    REQUIRE(result.trace.size() == 2);
    CHECK(result.trace[0].outcome == dht::TraceEntry::Outcome::timeout);
    CHECK(result.trace[1].outcome == dht::TraceEntry::Outcome::timeout);
    CHECK(f.node.table().find(f.id_alice)->failures == 2);
    CHECK(f.node.stats().by_method[static_cast<size_t>(dht::Method::find_node)].timeouts == 2);
}

TEST_CASE("node: mailboxes: put needs a token; get returns the items; only the owner removes them") {
    Fixture f;
    // Carol leaves two items in alice's mailbox on bob.
    auto key = dht::mailbox_key(f.id_alice);
    f.deliver(f.query(dht::Method::find_value, &key, &f.auth_carol));
    dht::Decoder::Failure fail{};
    auto fv = f.dec.decode(testing::bytes(f.net.sent.back().data), f.auth_carol, fail);
    REQUIRE(fv);
    auto put = [&](const std::string& slot, const std::string& token) {
        dht::Message q;
        q.method = dht::Method::mbox_put;
        q.txid = f.next_txid();
        q.sender = f.id_carol;
        q.target = key;
        q.token = token;
        q.slot = slot;
        q.value = "sealed-" + slot;
        f.sign_item(q, f.auth_carol, 7 * 86400);
        f.deliver(dht::encode(q, f.auth_carol, &f.id_bob));
        return f.dec.decode(testing::bytes(f.net.sent.back().data), f.auth_carol, fail);
    };
    auto bad = put("s0", "0000000000000000");
    REQUIRE(bad);
    CHECK(bad->msg.error_code == dht::kErrBadToken);
    REQUIRE(put("s1", fv->msg.token));
    REQUIRE(put("s2", fv->msg.token));
    CHECK(f.node.mailboxes().size() == 2);

    // Anyone may read (the items are sealed); alice gets both.
    f.deliver(f.query(dht::Method::mbox_get, &key));
    auto got = f.last_reply();
    REQUIRE(got);
    REQUIRE(got->values.size() == 2);
    CHECK(got->values[0].slot == "s1");
    CHECK(got->values[0].publisher == f.id_carol);

    // Carol (not the owner) cannot remove; alice can.
    auto del = [&](dht::Authenticator& as, const dht::NodeId& sender) {
        dht::Message q;
        q.method = dht::Method::mbox_del;
        q.txid = f.next_txid();
        q.sender = sender;
        q.target = key;
        q.slots = {"s1"};
        f.deliver(dht::encode(q, as, &f.id_bob));
    };
    del(f.auth_carol, f.id_carol);
    auto refused = f.dec.decode(testing::bytes(f.net.sent.back().data), f.auth_carol, fail);
    REQUIRE(refused);
    CHECK(refused->msg.error_code == dht::kErrNotOwner);
    CHECK(f.node.mailboxes().size() == 2);
    del(f.auth_alice, f.id_alice);
    auto ok = f.last_reply();
    REQUIRE(ok);
    CHECK(ok->kind == dht::Kind::reply);
    CHECK(f.node.mailboxes().size() == 1);
    // Items expire with their TTL.
    f.now += 7 * 24h + 1s;
    f.node.tick(f.now);
    CHECK(f.node.mailboxes().size() == 0);
}

TEST_CASE("mailbox store: per-sender, per-mailbox and node quotas; size limit; a resend replaces") {
    dht::Config cfg;
    cfg.max_items_per_sender = 3;
    cfg.max_items_per_mailbox = 4;
    cfg.max_mailbox_items = 6;
    dht::MailboxStore st{cfg};
    auto t = base::TimePoint{} + 1s;
    auto ttl = t + 1h;
    base::SeededRng rng{3};
    auto s1 = dht::NodeId::random(rng), s2 = dht::NodeId::random(rng), s3 = dht::NodeId::random(rng);
    auto box1 = dht::NodeId::random(rng), box2 = dht::NodeId::random(rng);
    for (int i = 0; i < 3; ++i) CHECK(st.put(box1, s1, "a" + std::to_string(i), "x", t, ttl).ok());
    CHECK(st.put(box1, s1, "a0", "replaced", t, ttl).ok());  // same slot: no new item
    CHECK(st.put(box2, s1, "z", "x", t, ttl).code() == base::Errc::limit);  // sender quota, any mailbox
    CHECK(st.put(box1, s2, "b0", "x", t, ttl).ok());
    CHECK(st.put(box1, s2, "b1", "x", t, ttl).code() == base::Errc::limit);  // mailbox full
    CHECK(st.put(box2, s2, "b1", "x", t, ttl).ok());
    CHECK(st.put(box2, s3, "c0", "x", t, ttl).ok());
    CHECK(st.put(box2, s3, "c1", "x", t, ttl).code() == base::Errc::limit);  // node full (6)
    CHECK(st.put(box2, s3, "big", std::string(cfg.max_mailbox_item + 1, 'x'), t, ttl).code() == base::Errc::too_large);
    CHECK(st.size() == 6);
    CHECK(st.get(box1, t, 1 << 20).size() == 4);
    CHECK(st.remove(box1, {"a0", "a1", "nope"}) == 2);
    CHECK(st.put(box2, s1, "z", "x", t, ttl).ok());  // s1's quota freed
    CHECK(st.expire(ttl) == base::kNever);
    CHECK(st.size() == 0);
}

TEST_CASE("node: every reply fits 1,200 bytes: the closest contacts stay, mailbox items come in pages") {
    Fixture f;
    // 40 contacts at long IPv6 endpoints: 20 of them would be ~2.4 KB.
    std::vector<crypto::Identity> ids;
    for (int i = 0; i < 40; ++i) {
        ids.push_back(crypto::Identity::generate());
        dht::CryptoAuthenticator as{ids.back(), 4};
        dht::Message q;
        q.method = dht::Method::ping;
        q.txid = f.next_txid();
        q.sender = as.self();
        // (each in its own /48: a bucket takes at most 2 contacts from one)
        auto ep = base::Endpoint::parse("[2001:db8:" + std::to_string(1000 + i) + ":5678:9abc:def0:1234:1000]:65000");
        REQUIRE(ep);
        f.node.on_datagram(*ep, testing::bytes(dht::encode(q, as, &f.id_bob)), f.now);
    }
    REQUIRE(f.node.table().size() >= 30);
    auto target = dht::NodeId::hash_of("somewhere");
    f.deliver(f.query(dht::Method::find_node, &target));
    CHECK(f.net.sent.back().data.size() <= dht::kMaxDatagram);
    auto r = f.last_reply();
    REQUIRE(r);
    REQUIRE(r->nodes.size() >= dht::kMinReplyNodes);
    CHECK(r->nodes.size() < 20);
    auto closest = f.node.table().closest(target, r->nodes.size());
    for (size_t i = 0; i < r->nodes.size(); ++i) CHECK(r->nodes[i].id == closest[i].id);

    // Carol leaves five 600-character items in alice's mailbox; alice pages through them.
    auto key = dht::mailbox_key(f.id_alice);
    f.deliver(f.query(dht::Method::find_value, &key, &f.auth_carol));
    dht::Decoder::Failure fail{};
    auto fv = f.dec.decode(testing::bytes(f.net.sent.back().data), f.auth_carol, fail);
    REQUIRE(fv);
    for (int i = 0; i < 5; ++i) {
        auto q = f.message(dht::Method::mbox_put, f.id_carol, key);
        q.token = fv->msg.token;
        q.slot = "s" + std::to_string(i);
        q.value = std::string(600, static_cast<char>('a' + i));
        f.sign_item(q, f.auth_carol, 3600);
        auto dg = dht::encode(q, f.auth_carol, &f.id_bob);
        CHECK(dg.size() <= dht::kMaxDatagram);
        f.deliver(dg);
        f.now += 1ms;  // stored one after another: the pages' order
    }
    REQUIRE(f.node.mailboxes().size() == 5);
    std::vector<std::string> got;
    std::optional<uint32_t> skip;
    for (int page = 0; page < 10; ++page) {
        auto q = f.message(dht::Method::mbox_get, f.id_alice, key);
        q.skip = skip;
        q.pad = dht::kPaddedQuery - dht::encode(q, f.auth_alice, &f.id_bob).size() - 9;  // as Rpc pads it
        f.deliver(dht::encode(q, f.auth_alice, &f.id_bob));
        CHECK(f.net.sent.back().data.size() <= dht::kMaxDatagram);
        auto p = f.last_reply();
        REQUIRE(p);
        CHECK(p->has_nodes == !skip);  // a page carries only items
        for (auto& v : p->values) got.push_back(v.slot);
        if (!p->more) break;
        skip = skip.value_or(0) + static_cast<uint32_t>(p->values.size());
    }
    CHECK(got == std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"});
}

TEST_CASE("node: mailbox items carry their author's signature; a holder hands them on but cannot forge, alter or prolong them") {
    Fixture f;
    auto key = dht::mailbox_key(f.id_alice);
    auto holder_id = crypto::Identity::generate();
    dht::CryptoAuthenticator holder{holder_id, 4};
    f.deliver(f.query(dht::Method::find_value, &key, &holder));
    dht::Decoder::Failure fail{};
    auto fv = f.dec.decode(testing::bytes(f.net.sent.back().data), holder, fail);
    REQUIRE(fv);
    // Carol's item, as the holder would hand it on: carol signed it, the holder sends it.
    auto item = f.message(dht::Method::mbox_put, holder.self(), key);
    item.token = fv->msg.token;
    item.slot = "00112233445566778899aabbccddeeff.12/13";  // the longest part slot the chat layer makes
    item.value = std::string(640, 'e');
    f.sign_item(item, f.auth_carol, 7 * 86400);
    item.author = f.id_carol;
    auto send = [&](dht::Message q) {
        q.txid = f.next_txid();
        auto dg = dht::encode(q, holder, &f.id_bob);
        f.deliver(dg);
        auto r = f.dec.decode(testing::bytes(f.net.sent.back().data), holder, fail);
        REQUIRE(r);
        return std::make_pair(dg.size(), r->msg);
    };
    SUBCASE("a handed-on part fits one datagram and is kept under its author") {
        auto [size, r] = send(item);
        CHECK(size <= dht::kMaxDatagram);
        CHECK(r.kind == dht::Kind::reply);
        auto got = f.node.mailboxes().get(key, f.now, SIZE_MAX);
        REQUIRE(got.size() == 1);
        CHECK(got[0].sender == f.id_carol);
        CHECK(got[0].exp == item.exp);
        CHECK(got[0].sig == item.isig);
    }
    SUBCASE("forged, altered, prolonged or expired items are refused and counted") {
        auto forged = item;
        f.sign_item(forged, holder, 7 * 86400);  // signed by the holder, claimed to be carol's
        forged.author = f.id_carol;
        auto altered = item;
        altered.value[0] = 'f';
        auto prolonged = item;
        prolonged.exp += 60;
        auto too_far = item;
        f.sign_item(too_far, f.auth_carol, 8 * 86400);
        auto expired = item;
        expired.exp = dht::wall_seconds(f.now, {}) - 1;
        auto b = dht::item_signed_bytes(key, f.id_carol, expired.slot, expired.exp, expired.value);
        expired.isig = f.auth_carol.sign({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
        for (auto* q : {&forged, &altered, &prolonged, &too_far, &expired}) {
            auto [size, r] = send(*q);
            CHECK(r.kind == dht::Kind::error);
            CHECK(r.error_code == dht::kErrProtocol);
        }
        CHECK(f.node.stats().mailbox_bad_item == 5);
        CHECK(f.node.mailboxes().size() == 0);
    }
    SUBCASE("an item its owner removed is not brought back by a holder that missed the removal") {
        send(item);
        REQUIRE(f.node.mailboxes().size() == 1);
        auto del = f.message(dht::Method::mbox_del, f.id_alice, key);
        del.slots = {item.slot};
        f.deliver(dht::encode(del, f.auth_alice, &f.id_bob));
        REQUIRE(f.node.mailboxes().size() == 0);
        auto [size, r] = send(item);
        CHECK(r.kind == dht::Kind::reply);  // acknowledged, so the holder does not retry
        CHECK(f.node.mailboxes().size() == 0);
        // The author's own new put (a later expiry) is a new item.
        auto again = item;
        f.sign_item(again, f.auth_carol, 7 * 86400 + 10);
        send(again);
        CHECK(f.node.mailboxes().size() == 1);
    }
}

TEST_CASE("node: an address that never answered us gets at most 3x the bytes of its query, for every method") {
    Fixture f;
    auto key = dht::NodeId::hash_of("popular");
    // The worst case for find_value: 16 values of 700 bytes under one key, from 16 publishers.
    f.deliver(f.query(dht::Method::find_value, &key));
    auto token = f.last_reply()->token;
    for (int i = 0; i < 16; ++i) {
        auto id = crypto::Identity::generate();
        dht::CryptoAuthenticator as{id, 4};
        auto q = f.message(dht::Method::store, as.self(), key);
        q.token = token;
        q.value = std::string(700, static_cast<char>('a' + i));
        q.ttl_s = 3600;
        f.deliver(dht::encode(q, as, &f.id_bob));
    }
    // ... and ten 600-character items in alice's mailbox.
    auto box = dht::mailbox_key(f.id_alice);
    for (int i = 0; i < 10; ++i) {
        auto q = f.message(dht::Method::mbox_put, f.id_carol, box);
        q.token = token;
        q.slot = "s" + std::to_string(i);
        q.value = std::string(600, 'x');
        f.sign_item(q, f.auth_carol, 3600);
        f.deliver(dht::encode(q, f.auth_carol, &f.id_bob));
    }
    // A fresh key from the same (unproven) address asks each method, unpadded.
    auto eve = crypto::Identity::generate();
    dht::CryptoAuthenticator as{eve, 4};
    auto someone = dht::NodeId::hash_of("someone");
    std::vector<dht::Message> asks;
    asks.push_back(f.message(dht::Method::ping, as.self(), someone));
    asks.push_back(f.message(dht::Method::find_node, as.self(), someone));
    asks.push_back(f.message(dht::Method::find_value, as.self(), key));
    asks.push_back(f.message(dht::Method::mbox_get, as.self(), box));
    asks.push_back(f.message(dht::Method::store, as.self(), someone));
    asks.back().token = token;
    asks.back().value = "v";
    asks.back().ttl_s = 60;
    asks.push_back(f.message(dht::Method::mbox_put, as.self(), box));
    asks.back().token = token;
    asks.back().slot = "e";
    asks.back().value = "v";
    f.sign_item(asks.back(), as, 60);
    asks.push_back(f.message(dht::Method::mbox_del, as.self(), dht::mailbox_key(as.self())));
    asks.back().slots = {"e"};
    asks.push_back(f.message(dht::Method::announce, as.self(), someone));
    asks.back().ttl_s = 60;
    asks.back().relay = true;
    asks.push_back(f.message(dht::Method::connect, as.self(), someone));
    asks.back().blob = "abcd";
    asks.push_back(f.message(dht::Method::nat_check, as.self(), someone));
    asks.push_back(f.message(dht::Method::nat_probe, as.self(), someone));
    asks.back().ep = f.alice_ep;
    asks.push_back(f.message(dht::Method::relay, as.self(), someone));
    for (auto& q : asks) {
        INFO(std::string(dht::method_name(q.method)));
        auto dg = dht::encode(q, as, &f.id_bob);
        size_t before = f.net.sent.size();
        f.deliver(dg);
        f.now += 10s;
        f.node.tick(f.now);  // and whatever the query makes the node send later
        size_t out = 0;
        for (size_t i = before; i < f.net.sent.size(); ++i) out += f.net.sent[i].data.size();
        MESSAGE(std::string(dht::method_name(q.method)) << ": " << dg.size() << " bytes in, " << out << " out");
        CHECK(out <= dht::kAmplification * dg.size());
    }
    CHECK(f.node.stats().unverified_queries >= asks.size());

    // Padded to 400 bytes, as kadchat sends it (Rpc::send_query), the same find_value gets values.
    auto q = f.message(dht::Method::find_value, as.self(), key);
    q.pad = dht::kPaddedQuery - dht::encode(q, as, &f.id_bob).size() - 9;
    auto dg = dht::encode(q, as, &f.id_bob);
    CHECK(dg.size() == dht::kPaddedQuery);
    f.deliver(dg);
    CHECK(f.net.sent.back().data.size() <= dht::kMaxDatagram);
    dht::Decoder::Failure fail{};
    auto r = f.dec.decode(testing::bytes(f.net.sent.back().data), as, fail);
    REQUIRE(r);
    CHECK(r->msg.values.size() >= 1);
}

TEST_CASE("node: one host past 1,024 datagrams a second, or one /24 past 4,096, is dropped unread and counted") {
    Fixture f;
    auto send_from = [&](const base::Endpoint& ep, int n, dht::Authenticator* as = nullptr) {
        size_t before = f.net.sent.size();
        for (int i = 0; i < n; ++i) f.node.on_datagram(ep, testing::bytes(f.query(dht::Method::ping, nullptr, as)), f.now);
        return f.net.sent.size() - before;  // answered
    };
    auto dropped = [&] { return f.node.stats().dropped[static_cast<size_t>(dht::DropReason::source_limit)]; };
    auto host = base::Endpoint::v4(203, 0, 113, 5, 4000);
    CHECK(send_from(host, 1100) == 1024);
    CHECK(dropped() == 76);
    // Another port of the same host shares its budget; after a second it is back.
    CHECK(send_from(base::Endpoint::v4(203, 0, 113, 5, 4001), 1) == 0);
    f.now += 1s;
    CHECK(send_from(host, 10) == 10);
    // Hosts of one /24 share 4,096 a second; another /24 is not affected.
    size_t answered = 0;
    for (uint8_t h = 10; h < 15; ++h) {  // each host its own key: no known contact moves
        auto id = crypto::Identity::generate();
        dht::CryptoAuthenticator as{id, 4};
        answered += send_from(base::Endpoint::v4(198, 51, 100, h, 4000), 1000, &as);
    }
    CHECK(answered == 4096);
    auto id = crypto::Identity::generate();
    dht::CryptoAuthenticator as{id, 4};
    CHECK(send_from(base::Endpoint::v4(198, 51, 101, 1, 4000), 5, &as) == 5);
}

TEST_CASE("node: a contact's query from a new endpoint moves it only once it answers a ping there") {
    Fixture f;
    f.deliver(f.query(dht::Method::ping));  // alice is known at alice_ep
    REQUIRE(f.node.table().find(f.id_alice));
    // Alice's query, recorded and sent again from another port (or a replay of it: the same
    // authenticated bytes) does not move her.
    auto elsewhere = base::Endpoint::v4(127, 0, 0, 66, 6666);
    f.node.on_datagram(elsewhere, testing::bytes(f.query(dht::Method::find_node, &f.id_bob)), f.now);
    CHECK(f.node.table().find(f.id_alice)->endpoint == f.alice_ep);
    CHECK(f.node.stats().moves_checked == 1);
    // The node checks the new endpoint with a ping there.
    auto check = std::find_if(f.net.sent.begin(), f.net.sent.end(), [&](auto& s) { return s.to == elsewhere; });
    REQUIRE(check != f.net.sent.end());
    dht::Decoder::Failure fail{};
    auto ping = f.dec.decode(testing::bytes(check->data), f.auth_alice, fail);
    REQUIRE(ping);
    CHECK(ping->msg.method == dht::Method::ping);

    SUBCASE("nobody answers there: she stays, with no failure counted") {
        f.now += 10s;
        f.node.tick(f.now);
        CHECK(f.node.table().find(f.id_alice)->endpoint == f.alice_ep);
        CHECK(f.node.table().find(f.id_alice)->failures == 0);
    }
    SUBCASE("she answers from there (her NAT rebound): she moves") {
        dht::Message r;
        r.kind = dht::Kind::reply;
        r.txid = ping->msg.txid;
        r.sender = f.id_alice;
        r.observed = elsewhere;
        f.node.on_datagram(elsewhere, testing::bytes(dht::encode(r, f.auth_alice, &f.id_bob)), f.now);
        CHECK(f.node.table().find(f.id_alice)->endpoint == elsewhere);
    }
}
