#pragma once
// Typed DHT messages and their JSON codec. The wire format is specified in docs/PROTOCOL.md
// (§Envelope, §Messages); every example there is a golden file in tests/vectors/dht/.
// Decoding uses simdjson's error-code API and never throws; encoding uses nlohmann::ordered_json.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/endpoint.hpp"
#include "base/status.hpp"
#include "dht/auth.hpp"
#include "dht/contact.hpp"

namespace dht {

inline constexpr int kProtocolVersion = 4;
// A query's txid carries the sender's clock: whole seconds (Unix time, modulo 2^32) in its high
// 32 bits, random low 32 bits (PROTOCOL.md §4, freshness). The authenticator covers it, so a
// recorded query is good only while that time is near the recipient's clock.
inline uint32_t txid_seconds(uint64_t txid) { return static_cast<uint32_t>(txid >> 32); }
// The clock a txid carries, from a core's `now` and the offset from it to wall-clock time.
inline uint32_t wall_seconds(base::TimePoint now, base::Duration wall_offset) {
    return static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>((now + wall_offset).time_since_epoch()).count());
}

enum class Kind : uint8_t { query, reply, error };
enum class Method : uint8_t {
    ping, find_node, find_value, store, mbox_put, mbox_get, mbox_del,
    announce, connect, nat_check, nat_probe,  // NAT traversal (PROTOCOL.md §16)
    relay,                                    // relay circuits (PROTOCOL.md §17)
};
inline constexpr size_t kMethodCount = 12;
const char* method_name(Method m);

// Error codes of "e" replies (docs/PROTOCOL.md §Errors).
enum ErrorCode : int {
    kErrGeneric = 201,
    kErrServer = 202,
    kErrProtocol = 203,
    kErrMethodUnknown = 204,
    kErrBadToken = 205,
    kErrValueTooLarge = 206,
    kErrStorageFull = 207,
    kErrNotOwner = 208,  // mbox_del from someone whose mailbox it is not
    kErrNotHere = 209,   // connect: no presence for the target; nat_check: no helper
    kErrNoAnswer = 210,  // connect: the target did not answer in time
    kErrRefused = 211,   // connect: the target refused the offer
    kErrBusy = 212,      // rate limit or capacity reached; try another node or later
    kErrNoRelay = 213,   // relay: this node does not relay (or not for that target)
};
// Every datagram a node sends fits this many bytes of UDP payload: larger ones are fragmented by
// IP, and fragments are dropped on real paths (PROTOCOL.md §1).
inline constexpr size_t kMaxDatagram = 1200;
// A reply cut to fit keeps at least this many contacts (a lookup needs some to go on).
inline constexpr size_t kMinReplyNodes = 4;
// A node sends an address that has not proved it receives there (by answering one of our
// queries from it) at most this many times the bytes of the query; queries whose replies are
// large are padded to kPaddedQuery bytes so that kMaxDatagram answers them.
inline constexpr size_t kAmplification = 3;
inline constexpr size_t kPaddedQuery = kMaxDatagram / kAmplification;
inline constexpr size_t kMaxBlob = 2048;  // base64url characters of a connect offer or answer

struct ValueRecord {
    NodeId publisher;
    std::string data;
    uint32_t ttl_s = 0;  // seconds left
    std::string slot;    // mailbox items only: the item's name within its sender's share
    friend bool operator==(const ValueRecord&, const ValueRecord&) = default;
};

struct Message {
    Kind kind = Kind::query;
    Method method = Method::ping;  // queries only
    uint64_t txid = 0;
    NodeId sender;
    bool read_only = false;  // "ro": the sender is not reachable unsolicited; keep it out of tables
    // Query arguments.
    NodeId target;       // find_node.target, find_value.key, store.key, mbox_*.key
    std::string token;   // store.token; find_value reply token
    std::string value;   // store.value, mbox_put.value
    uint32_t ttl_s = 0;  // store.ttl
    std::string slot;    // mbox_put.slot
    // mbox_put (PROTOCOL.md §14): the item's expiry (Unix seconds), its author's signature over
    // it (mailbox_store.hpp: item_signed_bytes), and "by", the author, when it is not the
    // datagram's sender (a holder handing the item on to a new closest node).
    uint32_t exp = 0;
    crypto::Signature isig{};
    std::optional<NodeId> author;
    std::vector<std::string> slots;  // mbox_del.slots
    std::optional<uint32_t> skip;    // mbox_get.skip: a page: items to pass over (PROTOCOL.md §14)
    std::string blob;                // connect.offer (query), connect.answer (reply): base64url
    std::optional<NodeId> from;      // connect, forwarded by a rendezvous node: who asks
    std::optional<base::Endpoint> ep;  // connect (forwarded): the asker's endpoint; connect reply:
                                       // the target's; nat_probe: where to ping
    uint64_t circuit = 0;            // relay: "c", the circuit id of the receiving end (forwarded
                                     // query: the target's; reply to the asker: the asker's)
    bool relay = false;              // announce: "relay":1 asks for a relay reservation; announce and
                                     // find_node replies: "relay":1, the replier relays for the target
    // Reply fields.
    std::optional<base::Endpoint> observed;  // "ip": where the replier saw the request come from
    bool has_nodes = false;
    std::vector<NodeInfo> nodes;
    bool has_values = false;
    std::vector<ValueRecord> values;
    std::optional<base::Endpoint> here;  // find_node: the replier holds the target's presence, at this endpoint
    std::vector<NodeInfo> helpers;       // nat_check: who will ping the asker (1 to 3)
    bool more = false;                   // mbox_get: "more":1, items left out to fit the datagram
    // Queries: "pad", this many '0's, so that a reply of 3x the query's size may answer an
    // address that has not proved it receives (PROTOCOL.md §7, amplification).
    size_t pad = 0;
    // Error fields. A query with an unknown method decodes with error_code = kErrMethodUnknown
    // and the method name in error_msg, so that the node can answer it with error 204.
    int error_code = 0;
    std::string error_msg;
};

// mac: the normal case. none: a hello, the ping a joiner sends to an address whose ID it does not
// know yet; it proves nothing and is answered only with a MAC'd pong (PROTOCOL.md §2).
enum class AuthKind : uint8_t { mac, none };

// Why a datagram was dropped; counted per reason in Stats.
enum class DropReason : uint8_t {
    truncated,            // too short to carry an authenticator
    oversized,
    bad_json,
    bad_schema,           // valid JSON, wrong fields or types
    bad_version,
    bad_auth,             // the MAC does not prove the claimed ID, or an unauthenticated non-hello
    self_id,              // claims to be us
    unknown_transaction,  // reply to nothing we sent (late, replayed or forged)
    replayed,             // a query we have already answered
    stale,                // a query whose txid time is too far from our clock (PROTOCOL.md §4)
    replay_full,          // a query when the replay memory is full (refused, not forgotten)
    source_limit,         // its source address or /24 sent more than its rate (before decoding)
    count_
};
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::count_);
const char* drop_reason_name(DropReason r);

// Builds the datagram for `m`, authenticated with a MAC for `recipient`, or a hello without an
// authenticator when the recipient's ID is unknown (nullptr; only for a ping query).
// REQUIRES: m.sender == auth.self().
std::string encode(const Message& m, Authenticator& auth, const NodeId* recipient);
// The parts of encode(), for tests: the JSON object without its closing brace (general path,
// any message), and the authenticator trailer appended to such a text.
std::string encode_general(const Message& m);
std::string seal(std::string open_object, Authenticator& auth, const NodeId* recipient);

// Reusable decoding state; one per process is enough (the cores are single-threaded).
class Decoder {
public:
    explicit Decoder(size_t max_datagram = 65000);
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    struct Decoded {
        Message msg;
        AuthKind auth = AuthKind::mac;
    };
    struct Failure {
        DropReason reason;
        std::string detail;
    };
    // Parses and authenticates. On failure `fail` says why; nothing else is touched.
    std::optional<Decoded> decode(std::span<const uint8_t> datagram, Authenticator& auth,
                                  Failure& fail);
    // Parses without checking the authenticator (golden-vector tests, inspection tools).
    std::optional<Decoded> parse_only(std::span<const uint8_t> datagram, Failure& fail);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dht
