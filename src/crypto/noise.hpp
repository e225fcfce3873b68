#pragma once
// The Noise protocol framework's IK pattern, Noise_IK_25519_ChaChaPoly_BLAKE2b (noiseprotocol.org,
// revision 34): the symmetric state, the cipher state, and the two handshake messages
//     <- s
//     ...
//     -> e, es, s, ss
//     <- e, ee, se
// Pure computation: bytes in, bytes out, no clock and no I/O. What kadchat adds around it (message
// types, MACs against floods, cookies, the identity in the payload) is in handshake.hpp.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "base/rng.hpp"
#include "base/status.hpp"
#include "crypto/keys.hpp"

namespace crypto::noise {

inline constexpr size_t kDhLen = 32;
inline constexpr size_t kHashLen = 64;
inline constexpr size_t kKeyLen = 32;
inline constexpr size_t kTagLen = 16;
inline constexpr char kProtocolName[] = "Noise_IK_25519_ChaChaPoly_BLAKE2b";

using Bytes32 = std::array<uint8_t, 32>;
using Hash64 = std::array<uint8_t, kHashLen>;

struct KeyPair {
    SecretBytes<32> secret;
    Bytes32 pub{};
    static KeyPair from_secret(std::span<const uint8_t, 32> secret);
    static KeyPair generate(base::Rng& rng);
};

// The X25519 form of an Ed25519 identity: what Noise calls the static key pair.
KeyPair static_keys_of(const Identity& id);
// The X25519 public key of an Ed25519 public key; nullopt if it has none.
std::optional<Bytes32> static_public_of(const PublicKey& ed25519_public);

// HMAC-BLAKE2b and the Noise HKDF with two outputs.
Hash64 hmac(std::span<const uint8_t> key, std::span<const uint8_t> data);
void hkdf2(std::span<const uint8_t> chaining_key, std::span<const uint8_t> ikm, Hash64& out1, Hash64& out2);

// ChaCha20-Poly1305 with the Noise nonce (32 zero bits, then the 64-bit counter little-endian).
void aead_encrypt(const uint8_t key[32], uint64_t n, std::span<const uint8_t> ad,
                  std::span<const uint8_t> plaintext, uint8_t* out);  // writes plaintext.size() + 16
bool aead_decrypt(const uint8_t key[32], uint64_t n, std::span<const uint8_t> ad,
                  std::span<const uint8_t> ciphertext, uint8_t* out);  // writes ciphertext.size() - 16
// Noise's REKEY(k): the first 32 bytes of ENCRYPT(k, 2^64 - 1, "", 32 zero bytes).
void rekey(SecretBytes<32>& key);

class CipherState {
public:
    void set_key(std::span<const uint8_t> k);  // first 32 bytes
    bool has_key() const { return has_key_; }
    uint64_t nonce() const { return n_; }
    const SecretBytes<32>& key() const { return k_; }
    void encrypt_with_ad(std::span<const uint8_t> ad, std::span<const uint8_t> pt, std::vector<uint8_t>& out);
    bool decrypt_with_ad(std::span<const uint8_t> ad, std::span<const uint8_t> ct, std::vector<uint8_t>& out);

private:
    SecretBytes<32> k_;
    uint64_t n_ = 0;
    bool has_key_ = false;
};

class SymmetricState {
public:
    SymmetricState();
    ~SymmetricState();
    SymmetricState(SymmetricState&&) = default;
    void mix_hash(std::span<const uint8_t> data);
    void mix_key(std::span<const uint8_t> ikm);
    void encrypt_and_hash(std::span<const uint8_t> pt, std::vector<uint8_t>& out);
    bool decrypt_and_hash(std::span<const uint8_t> ct, std::vector<uint8_t>& out);
    void split(SecretBytes<32>& first, SecretBytes<32>& second);
    const Hash64& handshake_hash() const { return h_; }

private:
    Hash64 ck_{};
    Hash64 h_{};
    CipherState cipher_;
};

// The keys a finished handshake yields, named from this side.
struct TransportKeys {
    SecretBytes<32> send;
    SecretBytes<32> recv;
    Hash64 handshake_hash{};
};

// One side of an IK handshake. The initiator writes message 1 and reads message 2; the
// responder the reverse. Every method returns an error (and the handshake is then dead) on any
// authentication failure or malformed input.
class HandshakeIK {
public:
    static HandshakeIK initiator(const KeyPair& s, const Bytes32& rs, std::span<const uint8_t> prologue);
    static HandshakeIK responder(const KeyPair& s, std::span<const uint8_t> prologue);
    HandshakeIK(HandshakeIK&&) = default;

    // The static-static DH (`ss`) is the same in every handshake between two keys, so a caller
    // may supply it from a cache: `fn(rs, out)` fills out with DH(s, rs), false on failure.
    using StaticDh = std::function<bool(const Bytes32& rs, uint8_t out[32])>;
    void set_static_dh(StaticDh fn) { static_dh_ = std::move(fn); }

    // Ephemeral keys come from `rng` unless one is injected (known-answer tests only).
    void set_ephemeral(std::span<const uint8_t, 32> secret) { fixed_e_ = KeyPair::from_secret(secret); }

    // Initiator: message 1. Responder: message 2, after which split() is available.
    base::Result<std::vector<uint8_t>> write_message(std::span<const uint8_t> payload, base::Rng& rng);
    // Responder: message 1 (sets remote_static). Initiator: message 2. Returns the payload.
    base::Result<std::vector<uint8_t>> read_message(std::span<const uint8_t> message);

    bool finished() const { return step_ == 2; }
    const Bytes32& remote_static() const { return rs_; }
    TransportKeys split();  // REQUIRES: finished(); call once

    static constexpr size_t kMessage1Overhead = kDhLen + kDhLen + kTagLen + kTagLen;  // 96
    static constexpr size_t kMessage2Overhead = kDhLen + kTagLen;                     // 48

private:
    HandshakeIK(bool initiator, const KeyPair& s, std::span<const uint8_t> prologue);
    bool dh_mix(const SecretBytes<32>& secret, const Bytes32& pub);
    bool ss_mix();
    StaticDh static_dh_;

    bool initiator_;
    const KeyPair& s_;
    std::optional<KeyPair> e_;
    std::optional<KeyPair> fixed_e_;
    Bytes32 rs_{};
    Bytes32 re_{};
    SymmetricState ss_;
    int step_ = 0;  // messages processed
    bool failed_ = false;
};

}  // namespace crypto::noise
