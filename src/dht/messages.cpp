#include "dht/messages.hpp"

#include <simdjson.h>

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/hex.hpp"

namespace dht {

namespace {

constexpr std::string_view kMacOpen = ",\"mac\":\"";
constexpr std::string_view kClose = "\"}";
constexpr std::string_view kHelloEnd = ",\"a\":{}}";  // a hello's arguments close it (PROTOCOL.md §2)
constexpr size_t kMacTrailer = kMacOpen.size() + 2 * crypto::kMacSize + kClose.size();        // 42
constexpr size_t kMaxTokenLength = 64;
constexpr size_t kMaxSlotLength = 64;
constexpr size_t kMaxSlotsPerDel = 64;

using ojson = nlohmann::ordered_json;

std::string txid_hex(uint64_t t) {
    std::array<uint8_t, 8> b{};
    for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(t >> (56 - 8 * i));
    return base::to_hex(std::span<const uint8_t>{b});
}

ojson nodes_json(const std::vector<NodeInfo>& nodes) {
    ojson arr = ojson::array();
    for (auto& n : nodes) arr.push_back(ojson::array({n.id.hex(), n.endpoint.to_string()}));
    return arr;
}

std::span<const uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

const char* method_name(Method m) {
    switch (m) {
        case Method::ping: return "ping";
        case Method::find_node: return "find_node";
        case Method::find_value: return "find_value";
        case Method::store: return "store";
        case Method::mbox_put: return "mbox_put";
        case Method::mbox_get: return "mbox_get";
        case Method::mbox_del: return "mbox_del";
        case Method::announce: return "announce";
        case Method::connect: return "connect";
        case Method::nat_check: return "nat_check";
        case Method::nat_probe: return "nat_probe";
        case Method::relay: return "relay";
    }
    return "?";
}

const char* drop_reason_name(DropReason r) {
    switch (r) {
        case DropReason::truncated: return "truncated";
        case DropReason::oversized: return "oversized";
        case DropReason::bad_json: return "bad_json";
        case DropReason::bad_schema: return "bad_schema";
        case DropReason::bad_version: return "bad_version";
        case DropReason::bad_auth: return "bad_auth";
        case DropReason::self_id: return "self_id";
        case DropReason::unknown_transaction: return "unknown_transaction";
        case DropReason::replayed: return "replayed";
        case DropReason::stale: return "stale";
        case DropReason::replay_full: return "replay_full";
        case DropReason::source_limit: return "source_limit";
        case DropReason::count_: break;
    }
    return "?";
}

namespace {

bool plain(std::string_view s) {  // needs no JSON escaping
    for (char c : s)
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x80)
            return false;
    return true;
}

// The messages a join and a lookup are made of (ping, find_node, find_value queries; replies
// without values) written directly: building an nlohmann tree for each was a tenth of a busy
// node's CPU. The bytes are the same as the general path's (the golden vectors and a randomized
// test check both). Returns false for anything else, which the general path then encodes.
bool encode_hot(const Message& m, std::string& out) {
    if (m.kind == Kind::error) return false;
    if (m.kind == Kind::query && m.method != Method::ping && m.method != Method::find_node &&
        m.method != Method::find_value)
        return false;
    if (m.kind == Kind::reply && (m.has_values || !plain(m.token) || m.here || !m.helpers.empty() || !m.blob.empty() ||
                                  m.ep || m.relay || m.circuit || m.more))
        return false;
    out.reserve(160 + m.nodes.size() * 96);
    out += "{\"v\":";
    out += std::to_string(kProtocolVersion);
    if (m.kind == Kind::query) {
        out += ",\"y\":\"q\",\"q\":\"";
        out += method_name(m.method);
        out += "\"";
    } else {
        out += ",\"y\":\"r\"";
    }
    out += ",\"t\":\"";
    out += txid_hex(m.txid);
    out += "\",\"id\":\"";
    base::append_hex(out, m.sender.bytes());
    out += "\"";
    if (m.read_only) out += ",\"ro\":1";
    if (m.kind == Kind::query) {
        if (m.method == Method::ping) {
            out += ",\"a\":{}";
        } else {
            out += m.method == Method::find_node ? ",\"a\":{\"target\":\"" : ",\"a\":{\"key\":\"";
            base::append_hex(out, m.target.bytes());
            out += "\"}";
        }
        if (m.pad) {
            out += ",\"pad\":\"";
            out.append(m.pad, '0');
            out += "\"";
        }
        return true;
    }
    if (m.observed) {
        out += ",\"ip\":\"";
        m.observed->append_to(out);
        out += "\"";
    }
    out += ",\"r\":{";
    bool first = true;
    if (!m.token.empty()) {
        out += "\"token\":\"" + m.token + "\"";
        first = false;
    }
    if (m.has_nodes) {
        if (!first) out += ",";
        out += "\"nodes\":[";
        for (size_t i = 0; i < m.nodes.size(); ++i) {
            if (i) out += ",";
            out += "[\"";
            base::append_hex(out, m.nodes[i].id.bytes());
            out += "\",\"";
            m.nodes[i].endpoint.append_to(out);
            out += "\"]";
        }
        out += "]";
    }
    out += "}";
    return true;
}

}  // namespace

std::string encode(const Message& m, Authenticator& auth, const NodeId* recipient) {
    std::string out;
    if (!encode_hot(m, out)) out = encode_general(m);
    return seal(std::move(out), auth, recipient);
}

std::string encode_general(const Message& m) {
    ojson j;
    j["v"] = kProtocolVersion;
    switch (m.kind) {
        case Kind::query: j["y"] = "q"; j["q"] = method_name(m.method); break;
        case Kind::reply: j["y"] = "r"; break;
        case Kind::error: j["y"] = "e"; break;
    }
    j["t"] = txid_hex(m.txid);
    j["id"] = m.sender.hex();
    if (m.read_only) j["ro"] = 1;
    if (m.kind != Kind::query && m.observed) j["ip"] = m.observed->to_string();
    if (m.kind == Kind::query) {
        ojson a = ojson::object();
        switch (m.method) {
            case Method::ping: break;
            case Method::find_node: a["target"] = m.target.hex(); break;
            case Method::find_value: a["key"] = m.target.hex(); break;
            case Method::store:
                a["key"] = m.target.hex();
                a["token"] = m.token;
                a["value"] = m.value;
                a["ttl"] = m.ttl_s;
                break;
            case Method::mbox_put:
                a["key"] = m.target.hex();
                a["token"] = m.token;
                a["slot"] = m.slot;
                a["value"] = m.value;
                a["exp"] = m.exp;
                if (m.author) a["by"] = m.author->hex();
                a["isig"] = base::to_hex(m.isig);
                break;
            case Method::mbox_get:
                a["key"] = m.target.hex();
                if (m.skip) a["skip"] = *m.skip;
                break;
            case Method::mbox_del:
                a["key"] = m.target.hex();
                a["slots"] = m.slots;
                break;
            case Method::announce:
                a["ttl"] = m.ttl_s;
                if (m.relay) a["relay"] = 1;
                break;
            case Method::relay:
                a["target"] = m.target.hex();
                if (m.from) {
                    a["from"] = m.from->hex();
                    a["c"] = txid_hex(m.circuit);
                }
                break;
            case Method::connect:
                a["target"] = m.target.hex();
                a["offer"] = m.blob;
                if (m.from) a["from"] = m.from->hex();
                if (m.ep) a["ep"] = m.ep->to_string();
                break;
            case Method::nat_check: break;
            case Method::nat_probe:
                a["target"] = m.target.hex();
                a["ep"] = m.ep ? m.ep->to_string() : std::string();
                break;
        }
        j["a"] = std::move(a);
        if (m.pad) j["pad"] = std::string(m.pad, '0');
    } else if (m.kind == Kind::reply) {
        ojson r = ojson::object();
        if (!m.token.empty()) r["token"] = m.token;
        if (m.has_nodes) r["nodes"] = nodes_json(m.nodes);
        if (m.here) r["here"] = m.here->to_string();
        if (m.relay) r["relay"] = 1;
        if (m.circuit) r["c"] = txid_hex(m.circuit);
        if (!m.blob.empty()) r["answer"] = m.blob;
        if (m.ep) r["ep"] = m.ep->to_string();
        if (!m.helpers.empty()) r["helpers"] = nodes_json(m.helpers);
        if (m.has_values) {
            ojson vals = ojson::array();
            for (auto& v : m.values) {
                ojson o{{"p", v.publisher.hex()}};
                if (!v.slot.empty()) o["s"] = v.slot;
                o["d"] = v.data;
                o["ttl"] = v.ttl_s;
                vals.push_back(std::move(o));
            }
            r["values"] = std::move(vals);
        }
        if (m.more) r["more"] = 1;
        j["r"] = std::move(r);
    } else {
        j["e"] = ojson{{"code", m.error_code}, {"msg", m.error_msg}};
    }
    std::string out = j.dump(-1, ' ', false, ojson::error_handler_t::replace);
    out.pop_back();  // reopen the object: the authenticator is its last member
    return out;
}

std::string seal(std::string out, Authenticator& auth, const NodeId* recipient) {
    if (!recipient) {  // a hello (PROTOCOL.md §2): no authenticator, only the object's brace
        out += '}';
        return out;
    }
    auto tag = auth.mac(*recipient, as_bytes(out));
    crypto::Mac zero{};
    out += kMacOpen;
    out += base::to_hex(std::span<const uint8_t>{tag ? *tag : zero});
    out += kClose;
    return out;
}

struct Decoder::Impl {
    explicit Impl(size_t max) : max_datagram{max}, parser{max + 64}, buf(max + simdjson::SIMDJSON_PADDING) {}
    size_t max_datagram;
    simdjson::dom::parser parser;
    std::vector<uint8_t> buf;  // padded copy: simdjson reads past the end
};

Decoder::Decoder(size_t max_datagram) : impl_{std::make_unique<Impl>(max_datagram)} {}
Decoder::~Decoder() = default;

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

struct Fail {
    Decoder::Failure& f;
    std::nullopt_t operator()(DropReason r, std::string detail) const {
        f.reason = r;
        f.detail = std::move(detail);
        return std::nullopt;
    }
};

bool get_id(object o, const char* field, NodeId& out) {
    std::string_view s;
    if (o.at_key(field).get_string().get(s)) return false;
    return base::from_hex_exact(s, out.bytes());
}

bool get_endpoint(std::string_view s, base::Endpoint& out) {
    auto ep = base::Endpoint::parse(s);
    if (!ep) return false;
    out = *ep;
    return true;
}

bool get_txid(std::string_view s, uint64_t& out) {
    std::array<uint8_t, 8> b{};
    if (!base::from_hex_exact(s, b)) return false;
    out = 0;
    for (auto x : b) out = out << 8 | x;
    return true;
}

// A connect offer or answer: sealed bytes in lowercase hex, bounded.
bool get_blob(object o, const char* field, std::string& out) {
    std::string_view v;
    if (o.at_key(field).get_string().get(v) || v.size() < 2 || v.size() > kMaxBlob) return false;
    for (char c : v)  // base64url (the rendezvous node passes it on unread)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
            return false;
    out = v;
    return true;
}

// An optional 0/1 field: absent is false.
bool get_flag(object o, const char* field, bool& out) {
    auto f = o.at_key(field);
    if (f.error() == simdjson::NO_SUCH_FIELD) return true;
    uint64_t v;
    if (f.get_uint64().get(v) || v > 1) return false;
    out = v == 1;
    return true;
}

bool get_u32(object o, const char* field, uint32_t& out) {
    uint64_t v;
    if (o.at_key(field).get_uint64().get(v) || v > std::numeric_limits<uint32_t>::max())
        return false;
    out = static_cast<uint32_t>(v);
    return true;
}

// Schema of each query's "a" object (docs/PROTOCOL.md §Messages).
const char* decode_args(Method m, object a, Message& msg) {
    switch (m) {
        case Method::ping: return nullptr;
        case Method::find_node:
            return get_id(a, "target", msg.target) ? nullptr : "find_node.target: not 64 hex";
        case Method::find_value:
            return get_id(a, "key", msg.target) ? nullptr : "find_value.key: not 64 hex";
        case Method::store: {
            if (!get_id(a, "key", msg.target)) return "store.key: not 64 hex";
            std::string_view tok, val;
            if (a.at_key("token").get_string().get(tok) || tok.size() > kMaxTokenLength)
                return "store.token: not a string of at most 64 characters";
            if (a.at_key("value").get_string().get(val)) return "store.value: not a string";
            if (!get_u32(a, "ttl", msg.ttl_s)) return "store.ttl: not an unsigned 32-bit integer";
            msg.token = tok;
            msg.value = val;
            return nullptr;
        }
        case Method::mbox_put: {
            if (!get_id(a, "key", msg.target)) return "mbox_put.key: not 64 hex";
            std::string_view tok, val, slot;
            if (a.at_key("token").get_string().get(tok) || tok.size() > kMaxTokenLength)
                return "mbox_put.token: not a string of at most 64 characters";
            if (a.at_key("slot").get_string().get(slot) || slot.empty() || slot.size() > kMaxSlotLength)
                return "mbox_put.slot: not a string of 1 to 64 characters";
            if (a.at_key("value").get_string().get(val)) return "mbox_put.value: not a string";
            if (!get_u32(a, "exp", msg.exp)) return "mbox_put.exp: not an unsigned 32-bit integer";
            std::string_view isig;
            if (a.at_key("isig").get_string().get(isig) || !base::from_hex_exact(isig, msg.isig))
                return "mbox_put.isig: not 128 hex";
            if (auto by = a.at_key("by"); by.error() != simdjson::NO_SUCH_FIELD) {
                NodeId author;
                if (!get_id(a, "by", author)) return "mbox_put.by: not 64 hex";
                msg.author = author;
            }
            msg.token = tok;
            msg.slot = slot;
            msg.value = val;
            return nullptr;
        }
        case Method::mbox_get:
            if (!get_id(a, "key", msg.target)) return "mbox_get.key: not 64 hex";
            if (a.at_key("skip").error() != simdjson::NO_SUCH_FIELD) {
                uint32_t skip = 0;
                if (!get_u32(a, "skip", skip)) return "mbox_get.skip: not an unsigned 32-bit integer";
                msg.skip = skip;
            }
            return nullptr;
        case Method::announce: {
            if (!get_u32(a, "ttl", msg.ttl_s)) return "announce.ttl: not an unsigned 32-bit integer";
            if (!get_flag(a, "relay", msg.relay)) return "announce.relay: not 0 or 1";
            return nullptr;
        }
        case Method::relay: {
            if (!get_id(a, "target", msg.target)) return "relay.target: not 64 hex";
            if (auto f = a.at_key("from"); f.error() != simdjson::NO_SUCH_FIELD) {
                NodeId from;
                if (!get_id(a, "from", from)) return "relay.from: not 64 hex";
                msg.from = from;
                std::string_view c;
                if (a.at_key("c").get_string().get(c) || !get_txid(c, msg.circuit) || msg.circuit == 0)
                    return "relay.c: not 16 hex (nonzero)";
            }
            return nullptr;
        }
        case Method::connect: {
            if (!get_id(a, "target", msg.target)) return "connect.target: not 64 hex";
            if (!get_blob(a, "offer", msg.blob)) return "connect.offer: not 2 to 2048 base64url characters";
            if (auto f = a.at_key("from"); f.error() != simdjson::NO_SUCH_FIELD) {
                NodeId from;
                if (!get_id(a, "from", from)) return "connect.from: not 64 hex";
                msg.from = from;
                std::string_view ep_text;
                base::Endpoint ep;
                if (a.at_key("ep").get_string().get(ep_text) || !get_endpoint(ep_text, ep))
                    return "connect.ep: not an endpoint";
                msg.ep = ep;
            }
            return nullptr;
        }
        case Method::nat_check: return nullptr;
        case Method::nat_probe: {
            if (!get_id(a, "target", msg.target)) return "nat_probe.target: not 64 hex";
            std::string_view ep_text;
            base::Endpoint ep;
            if (a.at_key("ep").get_string().get(ep_text) || !get_endpoint(ep_text, ep))
                return "nat_probe.ep: not an endpoint";
            msg.ep = ep;
            return nullptr;
        }
        case Method::mbox_del: {
            if (!get_id(a, "key", msg.target)) return "mbox_del.key: not 64 hex";
            simdjson::dom::array arr;
            if (a.at_key("slots").get_array().get(arr) || arr.size() > kMaxSlotsPerDel)
                return "mbox_del.slots: not an array of at most 64 strings";
            for (element e : arr) {
                std::string_view slot;
                if (e.get_string().get(slot) || slot.empty() || slot.size() > kMaxSlotLength)
                    return "mbox_del.slots[]: not a string of 1 to 64 characters";
                msg.slots.emplace_back(slot);
            }
            return nullptr;
        }
    }
    return "unknown method";
}

const char* decode_reply(object r, Message& msg) {
    std::string_view tok;
    auto t = r.at_key("token");
    if (t.error() != simdjson::NO_SUCH_FIELD) {
        if (t.get_string().get(tok) || tok.size() > kMaxTokenLength) return "r.token: bad";
        msg.token = tok;
    }
    auto nodes = r.at_key("nodes");
    if (nodes.error() != simdjson::NO_SUCH_FIELD) {
        simdjson::dom::array arr;
        if (nodes.get_array().get(arr)) return "r.nodes: not an array";
        msg.has_nodes = true;
        for (element n : arr) {
            simdjson::dom::array pair;
            std::string_view id_hex, ep_text;
            if (n.get_array().get(pair) || pair.size() != 2) return "r.nodes[]: not [id, endpoint]";
            if (pair.at(0).get_string().get(id_hex) || pair.at(1).get_string().get(ep_text))
                return "r.nodes[]: not strings";
            NodeInfo info;
            if (!base::from_hex_exact(id_hex, info.id.bytes())) return "r.nodes[].id: not 64 hex";
            if (!get_endpoint(ep_text, info.endpoint)) return "r.nodes[].endpoint: bad";
            msg.nodes.push_back(info);
        }
    }
    if (auto h = r.at_key("here"); h.error() != simdjson::NO_SUCH_FIELD) {
        std::string_view text;
        base::Endpoint ep;
        if (h.get_string().get(text) || !get_endpoint(text, ep)) return "r.here: not an endpoint";
        msg.here = ep;
    }
    if (!get_flag(r, "relay", msg.relay)) return "r.relay: not 0 or 1";
    if (!get_flag(r, "more", msg.more)) return "r.more: not 0 or 1";
    if (auto c = r.at_key("c"); c.error() != simdjson::NO_SUCH_FIELD) {
        std::string_view text;
        if (c.get_string().get(text) || !get_txid(text, msg.circuit) || msg.circuit == 0)
            return "r.c: not 16 hex (nonzero)";
    }
    if (r.at_key("answer").error() != simdjson::NO_SUCH_FIELD && !get_blob(r, "answer", msg.blob))
        return "r.answer: not 2 to 2048 base64url characters";
    if (auto e = r.at_key("ep"); e.error() != simdjson::NO_SUCH_FIELD) {
        std::string_view text;
        base::Endpoint ep;
        if (e.get_string().get(text) || !get_endpoint(text, ep)) return "r.ep: not an endpoint";
        msg.ep = ep;
    }
    if (auto h = r.at_key("helpers"); h.error() != simdjson::NO_SUCH_FIELD) {
        simdjson::dom::array arr;
        if (h.get_array().get(arr) || arr.size() == 0 || arr.size() > 3) return "r.helpers: not 1 to 3 nodes";
        for (element n : arr) {
            simdjson::dom::array pair;
            std::string_view id_hex, ep_text;
            NodeInfo info;
            if (n.get_array().get(pair) || pair.size() != 2 || pair.at(0).get_string().get(id_hex) ||
                pair.at(1).get_string().get(ep_text) || !base::from_hex_exact(id_hex, info.id.bytes()) ||
                !get_endpoint(ep_text, info.endpoint))
                return "r.helpers[]: not [id, endpoint]";
            msg.helpers.push_back(info);
        }
    }
    auto values = r.at_key("values");
    if (values.error() != simdjson::NO_SUCH_FIELD) {
        simdjson::dom::array arr;
        if (values.get_array().get(arr)) return "r.values: not an array";
        msg.has_values = true;
        for (element v : arr) {
            object vo;
            ValueRecord rec;
            std::string_view data;
            if (v.get_object().get(vo)) return "r.values[]: not an object";
            if (!get_id(vo, "p", rec.publisher)) return "r.values[].p: not 64 hex";
            if (vo.at_key("d").get_string().get(data)) return "r.values[].d: not a string";
            if (auto s = vo.at_key("s"); s.error() != simdjson::NO_SUCH_FIELD) {
                std::string_view slot;
                if (s.get_string().get(slot) || slot.size() > kMaxSlotLength) return "r.values[].s: bad";
                rec.slot = slot;
            }
            if (!get_u32(vo, "ttl", rec.ttl_s)) return "r.values[].ttl: bad";
            rec.data = data;
            msg.values.push_back(std::move(rec));
        }
    }
    return nullptr;
}

}  // namespace

std::optional<Decoder::Decoded> Decoder::parse_only(std::span<const uint8_t> dg, Failure& failure) {
    Fail fail{failure};
    if (dg.size() > impl_->max_datagram) return fail(DropReason::oversized, "datagram too large");
    if (dg.size() < kMacTrailer + 2) return fail(DropReason::truncated, "too short");
    std::memcpy(impl_->buf.data(), dg.data(), dg.size());
    element root;
    if (impl_->parser.parse(impl_->buf.data(), dg.size(), false).get(root))
        return fail(DropReason::bad_json, "not JSON");
    object o;
    if (root.get_object().get(o)) return fail(DropReason::bad_schema, "not an object");

    Decoded d;
    std::string_view tail(reinterpret_cast<const char*>(dg.data()), dg.size());
    if (tail.substr(tail.size() - kMacTrailer, kMacOpen.size()) == kMacOpen) {
        d.auth = AuthKind::mac;
    } else {
        // Without a MAC only a hello may pass: a ping query that ends in its empty arguments and
        // carries no authenticator member anywhere (PROTOCOL.md §2). So a MAC'd datagram whose
        // trailer was damaged is refused, not taken for a hello, and so is a v3 signature.
        std::string_view y, q;
        if (!tail.ends_with(kHelloEnd) || o.at_key("y").get_string().get(y) || y != "q" ||
            o.at_key("q").get_string().get(q) || q != "ping" ||
            o.at_key("mac").error() != simdjson::NO_SUCH_FIELD || o.at_key("sig").error() != simdjson::NO_SUCH_FIELD)
            return fail(DropReason::bad_auth, "no authenticator at the end");
        d.auth = AuthKind::none;
    }

    int64_t v;
    if (o.at_key("v").get_int64().get(v)) return fail(DropReason::bad_schema, "v: not an integer");
    if (v != kProtocolVersion) return fail(DropReason::bad_version, "version " + std::to_string(v));
    Message& m = d.msg;
    std::string_view y, t;
    if (o.at_key("y").get_string().get(y)) return fail(DropReason::bad_schema, "y: not a string");
    if (o.at_key("t").get_string().get(t) || !get_txid(t, m.txid))
        return fail(DropReason::bad_schema, "t: not 16 hex");
    if (!get_id(o, "id", m.sender)) return fail(DropReason::bad_schema, "id: not 64 hex");
    if (auto ro = o.at_key("ro"); ro.error() != simdjson::NO_SUCH_FIELD) {
        uint64_t v;
        if (ro.get_uint64().get(v) || v > 1) return fail(DropReason::bad_schema, "ro: not 0 or 1");
        m.read_only = v == 1;
    }
    if (auto pad = o.at_key("pad"); pad.error() != simdjson::NO_SUCH_FIELD) {
        std::string_view text;  // padding: only its length counts (PROTOCOL.md §7, amplification)
        if (pad.get_string().get(text)) return fail(DropReason::bad_schema, "pad: not a string");
        m.pad = text.size();
    }

    if (y == "q") {
        m.kind = Kind::query;
        std::string_view q;
        if (o.at_key("q").get_string().get(q)) return fail(DropReason::bad_schema, "q: not a string");
        object a;
        if (o.at_key("a").get_object().get(a)) return fail(DropReason::bad_schema, "a: not an object");
        bool known = false;
        for (size_t i = 0; i < kMethodCount; ++i) {
            if (q == method_name(static_cast<Method>(i))) {
                m.method = static_cast<Method>(i);
                known = true;
            }
        }
        if (!known) {
            m.error_code = kErrMethodUnknown;  // the node answers with error 204
            m.error_msg = std::string(q.substr(0, 32));
            return d;
        }
        if (const char* err = decode_args(m.method, a, m)) return fail(DropReason::bad_schema, err);
    } else if (y == "r" || y == "e") {
        m.kind = y == "r" ? Kind::reply : Kind::error;
        auto ip = o.at_key("ip");
        if (ip.error() != simdjson::NO_SUCH_FIELD) {
            std::string_view ip_text;
            base::Endpoint ep;
            if (ip.get_string().get(ip_text) || !get_endpoint(ip_text, ep))
                return fail(DropReason::bad_schema, "ip: not an endpoint");
            m.observed = ep;
        }
        if (m.kind == Kind::reply) {
            object r;
            if (o.at_key("r").get_object().get(r)) return fail(DropReason::bad_schema, "r: not an object");
            if (const char* err = decode_reply(r, m)) return fail(DropReason::bad_schema, err);
        } else {
            object e;
            int64_t code;
            std::string_view msg;
            if (o.at_key("e").get_object().get(e) || e.at_key("code").get_int64().get(code) ||
                e.at_key("msg").get_string().get(msg))
                return fail(DropReason::bad_schema, "e: not {code, msg}");
            m.error_code = static_cast<int>(code);
            m.error_msg = std::string(msg.substr(0, 200));
        }
    } else {
        return fail(DropReason::bad_schema, "y: not q, r or e");
    }
    return d;
}

std::optional<Decoder::Decoded> Decoder::decode(std::span<const uint8_t> dg, Authenticator& auth,
                                                Failure& failure) {
    auto d = parse_only(dg, failure);
    if (!d) return d;
    Fail fail{failure};
    if (d->msg.sender == auth.self()) return fail(DropReason::self_id, "claims our own id");
    std::string_view text(reinterpret_cast<const char*>(dg.data()), dg.size());
    if (d->auth == AuthKind::mac) {
        crypto::Mac got{};
        auto hex = text.substr(text.size() - kMacTrailer + kMacOpen.size(), 2 * crypto::kMacSize);
        if (!base::from_hex_exact(hex, got)) return fail(DropReason::bad_auth, "mac: not hex");
        auto want = auth.mac(d->msg.sender, dg.first(dg.size() - kMacTrailer));
        if (!want || !crypto::equal(*want, got)) return fail(DropReason::bad_auth, "mac mismatch");
    } else if (!auth.mac(d->msg.sender, {})) {
        // A hello proves nothing, but its answer is MAC'd for the claimed ID: that must be a key.
        // (The agreement is cached for the answer.)
        return fail(DropReason::bad_auth, "hello: id is not a public key");
    }
    return d;
}

}  // namespace dht
