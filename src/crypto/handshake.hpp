#pragma once
// kadchat's session handshake around Noise IK (noise.hpp): message types, the initiator's
// identity and a timestamp in the first payload, a MAC anyone who knows the responder's public key
// can make (mac1: rejects junk without a DH) and a cookie MAC (mac2) that proves the initiator
// receives replies at its address, asked for only when the responder is under load. The shape
// follows WireGuard's handshake; PROTOCOL.md §11 gives the bytes.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "crypto/keys.hpp"
#include "crypto/noise.hpp"

namespace crypto {

enum class SessionMsg : uint8_t { init = 1, response = 2, cookie = 3, transport = 4 };

inline constexpr char kSessionPrologue[] = "kadchat session v1";
inline constexpr size_t kCookieMacSize = 16;
inline constexpr size_t kInitFixed = 1 + noise::HandshakeIK::kMessage1Overhead + 32 + 8 + 2 * kCookieMacSize;  // 169
inline constexpr size_t kResponseFixed = 1 + noise::HandshakeIK::kMessage2Overhead;                             // 49
inline constexpr size_t kCookieReplySize = 1 + 24 + kCookieMacSize + 16;                                         // 57

using Cookie = std::array<uint8_t, kCookieMacSize>;

// DH(our static, a peer's static) for the peers we meet most: every handshake with the same
// peer needs it, and it costs one X25519. A small LRU of wiped-on-eviction secrets.
class StaticDhCache {
public:
    StaticDhCache(const noise::KeyPair& statik, size_t capacity) : statik_{statik}, capacity_{capacity} {}
    bool get(const noise::Bytes32& peer, uint8_t out[32]);
    size_t computed() const { return computed_; }

private:
    struct Entry {
        noise::Bytes32 peer;
        SecretBytes<32> shared;
        uint64_t used;
    };
    const noise::KeyPair& statik_;
    size_t capacity_;
    uint64_t clock_ = 0;
    size_t computed_ = 0;
    std::vector<Entry> entries_;
};

// What a node needs to take part in handshakes, derived once from its identity.
struct SessionKeys {
    explicit SessionKeys(const Identity& id);
    SessionKeys(const SessionKeys&) = delete;
    const Identity& identity;
    noise::KeyPair statik;             // X25519 form of the identity
    noise::Bytes32 mac1_key{};         // checks mac1 of messages sent to us
    noise::Bytes32 cookie_key{};       // encrypts the cookie replies we send
    mutable StaticDhCache static_dh{statik, 256};
    noise::HandshakeIK::StaticDh static_dh_fn() const {
        return [this](const noise::Bytes32& rs, uint8_t out[32]) { return static_dh.get(rs, out); };
    }
};
noise::Bytes32 mac1_key_for(const noise::Bytes32& x25519_public);
noise::Bytes32 cookie_key_for(const noise::Bytes32& x25519_public);

// The responder's cookie secret: random, replaced every two minutes; a cookie made under the
// previous secret is still accepted. Cookie = MAC(secret, source), where source is whatever
// names the sender's address on this path (an IP and port, or a relay's ID).
class CookieJar {
public:
    CookieJar(base::Rng& rng, base::TimePoint now);
    Cookie cookie_for(std::span<const uint8_t> source, base::TimePoint now);
    bool valid_mac2(std::span<const uint8_t> msg_before_mac2, std::span<const uint8_t> mac2,
                    std::span<const uint8_t> source, base::TimePoint now);
    static constexpr base::Duration kRotation = std::chrono::minutes(2);

private:
    void rotate(base::TimePoint now);
    void catch_up(base::TimePoint now);
    base::Rng& rng_;
    SecretBytes<32> current_, previous_;
    base::TimePoint rotated_;
};

// The initiator's side. Every init_message() starts a fresh Noise handshake (new ephemeral);
// the last one is the one a response must answer.
class InitiatorHandshake {
public:
    static base::Result<InitiatorHandshake> create(const SessionKeys& me, const PublicKey& peer);
    base::Result<std::vector<uint8_t>> init_message(std::span<const uint8_t> payload, uint64_t timestamp_ms,
                                                    base::Rng& rng, base::TimePoint now);
    // A cookie reply to our last init: decrypts and keeps the cookie (valid for two minutes);
    // the caller then sends a new init.
    base::Status on_cookie_reply(std::span<const uint8_t> msg, base::TimePoint now);
    struct Done {
        noise::TransportKeys keys;
        std::vector<uint8_t> payload;
    };
    base::Result<Done> on_response(std::span<const uint8_t> msg);
    const PublicKey& peer() const { return peer_; }

private:
    InitiatorHandshake(const SessionKeys& me, const PublicKey& peer, const noise::Bytes32& peer_x);
    const SessionKeys* me_;
    PublicKey peer_;
    noise::Bytes32 peer_x_;
    std::optional<noise::HandshakeIK> hs_;
    Cookie last_mac1_{};
    std::optional<Cookie> cookie_;
    base::TimePoint cookie_at_{};
};

// The responder's side of one init.
struct AcceptedInit {
    PublicKey peer{};
    uint64_t timestamp_ms = 0;
    std::vector<uint8_t> payload;
    std::optional<noise::HandshakeIK> hs;
};

enum class InitVerdict { accepted, cookie, rejected };

// Checks mac1 (no DH), then, under load, mac2; only then runs Noise. On InitVerdict::cookie,
// `reply` holds a cookie reply and nothing was allocated or computed beyond two MACs.
struct InitResult {
    InitVerdict verdict = InitVerdict::rejected;
    base::Status why;  // for rejected
    AcceptedInit init;
    std::vector<uint8_t> reply;  // for cookie
};
InitResult accept_init(const SessionKeys& me, std::span<const uint8_t> msg, std::span<const uint8_t> source,
                       bool under_load, CookieJar& jar, base::Rng& rng, base::TimePoint now);

// The response to an accepted init, and the keys it yields.
base::Result<std::vector<uint8_t>> write_response(AcceptedInit& init, std::span<const uint8_t> payload,
                                                  base::Rng& rng, noise::TransportKeys& keys);

}  // namespace crypto
