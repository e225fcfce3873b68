#include "vectors.hpp"

namespace vectors {

namespace {
std::vector<uint8_t> item_bytes(const dht::Message& q, const dht::NodeId& author) {
    auto s = dht::item_signed_bytes(q.target, author, q.slot, q.exp, q.value);
    return {s.begin(), s.end()};
}
}  // namespace

std::vector<Vector> all() {
    dht::NodeId a{alice().public_key}, b{bob().public_key};
    auto target = *dht::NodeId::from_hex("0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000");
    auto ep_a = *base::Endpoint::parse("192.0.2.10:44544");
    auto ep_c = *base::Endpoint::parse("[2001:db8::7]:5000");
    std::vector<Vector> v;
    // Txids carry the sender's clock in their high half (PROTOCOL.md §4): the golden ones were
    // "sent" at 2026-12-01 00:00:00 UTC (0x6b0e0e00), so no node takes them now (stale).
    auto at_time = [](uint64_t txid) { return (uint64_t{0x6b0e0e00} << 32) | (txid & 0xffffffffu); };
    auto query = [&](const char* name, dht::Method m, uint64_t txid, bool hello) {
        dht::Message q;
        q.kind = dht::Kind::query;
        q.method = m;
        q.txid = at_time(txid);
        q.sender = a;
        v.push_back({name, q, true, hello});
        return &v.back().msg;
    };
    auto reply = [&](const char* name, dht::Method m, uint64_t txid) {
        dht::Message r;
        r.kind = dht::Kind::reply;
        r.method = m;
        r.txid = at_time(txid);
        r.sender = b;
        r.observed = ep_a;
        v.push_back({name, r, false, false});
        return &v.back().msg;
    };
    query("hello", dht::Method::ping, 0x0102030405060708ULL, true);
    query("ping_query", dht::Method::ping, 0x1112131415161718ULL, false);
    reply("ping_reply", dht::Method::ping, 0x1112131415161718ULL);
    query("find_node_query", dht::Method::find_node, 0x2122232425262728ULL, false)->target = target;
    {
        // As Rpc sends it: padded to 400 bytes, so that an unproven address may get 1,200 back.
        auto* q = query("find_node_query_padded", dht::Method::find_node, 0x2122232425262729ULL, false);
        q->target = target;
        q->pad = 142;
    }
    {
        auto* r = reply("find_node_reply", dht::Method::find_node, 0x2122232425262728ULL);
        r->has_nodes = true;
        r->nodes = {{a, ep_a}, {target, ep_c}};
    }
    query("find_value_query", dht::Method::find_value, 0x3132333435363738ULL, false)->target = target;
    {
        auto* r = reply("find_value_reply", dht::Method::find_value, 0x3132333435363738ULL);
        r->token = "5f4dcc3b5aa765d6";
        r->has_nodes = true;
        r->nodes = {{target, ep_c}};
        r->has_values = true;
        r->values = {{a, "hello, \"world\"", 3599, {}}};
    }
    {
        auto* q = query("store_query", dht::Method::store, 0x4142434445464748ULL, false);
        q->target = target;
        q->token = "5f4dcc3b5aa765d6";
        q->value = "hello, \"world\"";
        q->ttl_s = 3600;
    }
    reply("store_reply", dht::Method::store, 0x4142434445464748ULL);
    {
        auto* e = reply("store_error", dht::Method::store, 0x5152535455565758ULL);
        e->kind = dht::Kind::error;
        e->error_code = dht::kErrBadToken;
        e->error_msg = "bad or expired token";
    }
    auto mbox = dht::mailbox_key(b);
    {
        auto* q = query("mbox_put_query", dht::Method::mbox_put, 0x6162636465666768ULL, false);
        q->target = mbox;
        q->token = "5f4dcc3b5aa765d6";
        q->slot = "00112233445566778899aabbccddeeff";
        q->value = "01a1b2";  // a sealed envelope in hex (shortened)
        q->exp = 0x6b0e0e00 + 604800;  // seven days after it was "sent"
        q->isig = crypto::sign(alice(), item_bytes(*q, a));
    }
    {
        // Bob's item in the mailbox at `target`, handed on by alice, one of its holders.
        auto* q = query("mbox_put_query_handoff", dht::Method::mbox_put, 0x6162636465666769ULL, false);
        q->target = dht::mailbox_key(target);
        q->token = "5f4dcc3b5aa765d6";
        q->slot = "8899aabbccddeeff0011223344556677";
        q->value = "01c3d4";
        q->exp = 0x6b0e0e00 + 86400;
        q->author = b;
        q->isig = crypto::sign(bob(), item_bytes(*q, b));
    }
    query("mbox_get_query", dht::Method::mbox_get, 0x7172737475767778ULL, false)->target = mbox;
    {
        auto* r = reply("mbox_get_reply", dht::Method::mbox_get, 0x7172737475767778ULL);
        r->has_nodes = true;
        r->nodes = {{target, ep_c}};
        r->has_values = true;
        r->values = {{a, "01a1b2", 604000, "00112233445566778899aabbccddeeff"}};
    }
    {
        // A page: the items after the first 3; one part of a split item, and more to come.
        auto* q = query("mbox_get_page_query", dht::Method::mbox_get, 0x7172737475767779ULL, false);
        q->target = mbox;
        q->skip = 3;
        auto* r = reply("mbox_get_page_reply", dht::Method::mbox_get, 0x7172737475767779ULL);
        r->has_values = true;
        r->values = {{a, "01a1b2", 604000, "00112233445566778899aabbccddeeff.0/13"}};
        r->more = true;
    }
    {
        auto* q = query("mbox_del_query", dht::Method::mbox_del, 0x8182838485868788ULL, false);
        q->target = dht::mailbox_key(a);  // only alice may empty her own mailbox
        q->slots = {"00112233445566778899aabbccddeeff"};
    }
    // NAT traversal (PROTOCOL.md §16). Alice is a client behind a NAT; bob keeps her presence.
    auto ep_nat = *base::Endpoint::parse("203.0.113.9:40001");
    {
        auto* q = query("find_node_query_client", dht::Method::find_node, 0x9192939495969798ULL, false);
        q->target = target;
        q->read_only = true;
    }
    {
        auto* q = query("announce_query", dht::Method::announce, 0xa1a2a3a4a5a6a7a8ULL, false);
        q->ttl_s = 60;
        q->read_only = true;
    }
    reply("announce_reply", dht::Method::announce, 0xa1a2a3a4a5a6a7a8ULL)->observed = ep_nat;
    {
        auto* r = reply("find_node_reply_here", dht::Method::find_node, 0xb1b2b3b4b5b6b7b8ULL);
        r->has_nodes = true;
        r->nodes = {{target, ep_c}};
        r->here = ep_nat;
    }
    // The offers and answers are sealed envelopes in hex (shortened here).
    {
        auto* q = query("connect_query", dht::Method::connect, 0xc1c2c3c4c5c6c7c8ULL, false);
        q->target = target;
        q->blob = "01c0ffee";
    }
    {
        auto* q = query("connect_forwarded", dht::Method::connect, 0xd1d2d3d4d5d6d7d8ULL, false);
        q->target = b;
        q->blob = "01c0ffee";
        q->from = target;
        q->ep = ep_c;
    }
    reply("connect_answer", dht::Method::connect, 0xd1d2d3d4d5d6d7d8ULL)->blob = "01beef";
    {
        auto* r = reply("connect_reply", dht::Method::connect, 0xc1c2c3c4c5c6c7c8ULL);
        r->blob = "01beef";
        r->ep = ep_nat;
    }
    {
        auto* e = reply("connect_error", dht::Method::connect, 0xe1e2e3e4e5e6e7e8ULL);
        e->kind = dht::Kind::error;
        e->error_code = dht::kErrNotHere;
        e->error_msg = "no presence for that node here";
    }
    query("nat_check_query", dht::Method::nat_check, 0xf1f2f3f4f5f6f7f8ULL, false)->read_only = true;
    reply("nat_check_reply", dht::Method::nat_check, 0xf1f2f3f4f5f6f7f8ULL)->helpers = {{target, ep_c}, {b, ep_nat}};
    {
        auto* q = query("nat_probe_query", dht::Method::nat_probe, 0x0a0b0c0d0e0f1011ULL, false);
        q->target = target;
        q->ep = ep_nat;
    }
    // Relays (PROTOCOL.md §17).
    {
        auto* q = query("announce_query_relay", dht::Method::announce, 0x2122232425262728ULL, false);
        q->ttl_s = 60;
        q->read_only = true;
        q->relay = true;
    }
    {
        auto* r = reply("announce_reply_relay", dht::Method::announce, 0x2122232425262728ULL);
        r->observed = ep_nat;
        r->relay = true;
    }
    {
        auto* r = reply("find_node_reply_relay", dht::Method::find_node, 0x3132333435363738ULL);
        r->has_nodes = true;
        r->nodes = {{target, ep_c}};
        r->here = ep_nat;
        r->relay = true;
    }
    query("relay_query", dht::Method::relay, 0x4142434445464748ULL, false)->target = target;
    {
        auto* q = query("relay_forwarded", dht::Method::relay, 0x5152535455565758ULL, false);
        q->target = b;
        q->from = target;
        q->circuit = 0x1a2b3c4d5e6f7081ULL;
    }
    reply("relay_accepted", dht::Method::relay, 0x5152535455565758ULL);
    reply("relay_reply", dht::Method::relay, 0x4142434445464748ULL)->circuit = 0x9a8b7c6d5e4f3021ULL;
    {
        auto* e = reply("relay_error", dht::Method::relay, 0x6162636465666768ULL);
        e->kind = dht::Kind::error;
        e->error_code = dht::kErrNoRelay;
        e->error_msg = "this node does not relay";
    }
    return v;
}

}  // namespace vectors
