#pragma once
// End-to-end sealed envelopes: a chat message that only its recipient can open and that proves
// who sent it, whichever way it travels (a direct session, a relay, a value stored in the DHT for
// an offline recipient). Anyone on the way sees the version, an ephemeral key and the length.
//
//   envelope  = 0x01 | ephemeral X25519 public (32) | nonce (24) | XChaCha20-Poly1305 ciphertext
//   plaintext = sender Ed25519 key (32) | message id (16) | timestamp ms (8, BE) | payload | signature (64)
//   signature = Ed25519 by the sender over "kadchat envelope v1\n" | recipient | ephemeral | sender |
//               id | timestamp | payload
//   key       = BLAKE2b-256(key = X25519(ephemeral, recipient), "kadchat envelope key v1" | ephemeral | recipient)
//   AD        = 0x01 | ephemeral | recipient Ed25519 key
// Signing the recipient stops a recipient from re-sealing a signed message to a third person as
// if it had been sent to them. The ephemeral key gives forward secrecy against the sender's key
// only; an envelope stays readable by whoever later steals the recipient's key (PROTOCOL.md).
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "base/rng.hpp"
#include "base/status.hpp"
#include "crypto/keys.hpp"
#include "crypto/noise.hpp"

namespace crypto {

inline constexpr uint8_t kEnvelopeVersion = 1;
inline constexpr size_t kEnvelopeOverhead = 1 + 32 + 24 + 32 + 16 + 8 + 64 + 16;  // 193
inline constexpr size_t kMaxEnvelopePayload = 60000;

using MessageId = std::array<uint8_t, 16>;

// Orders message IDs by two 8-byte loads. std::less on the array calls memcmp, which showed in a
// chat burst's profile through the maps keyed by ID (history index, unacknowledged sends, outbox
// order). A tree, not a hash table: the IDs of incoming messages are the sender's choice.
struct IdLess {
    bool operator()(const MessageId& a, const MessageId& b) const noexcept {
        uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a.data(), 8);
        std::memcpy(&a1, a.data() + 8, 8);
        std::memcpy(&b0, b.data(), 8);
        std::memcpy(&b1, b.data() + 8, 8);
        return a0 != b0 ? a0 < b0 : a1 < b1;
    }
};
template <class V>
using IdMap = std::map<MessageId, V, IdLess>;
using IdSet = std::set<MessageId, IdLess>;

struct Letter {
    PublicKey sender{};
    PublicKey recipient{};
    MessageId id{};
    uint64_t timestamp_ms = 0;
    std::vector<uint8_t> payload;
};

base::Result<std::vector<uint8_t>> seal_envelope(const Identity& sender, const PublicKey& recipient,
                                                 const MessageId& id, uint64_t timestamp_ms,
                                                 std::span<const uint8_t> payload, base::Rng& rng);

// Opens envelopes addressed to one identity and counts what it refuses.
class EnvelopeOpener {
public:
    explicit EnvelopeOpener(const Identity& me);
    // Errc::malformed (wrong size or version), Errc::crypto with "not for us or tampered" (the
    // AEAD fails) or "forged sender" (the signature fails).
    base::Result<Letter> open(std::span<const uint8_t> envelope);

    struct Counts {
        uint64_t opened = 0, malformed = 0, undecryptable = 0, forged = 0;
    };
    const Counts& counts() const { return counts_; }

private:
    const Identity& me_;
    noise::KeyPair x_;
    Counts counts_;
};

}  // namespace crypto
