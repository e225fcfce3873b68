#pragma once
// Fixed-size key types. Only src/crypto/ includes <sodium.h>; everything else sees bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/rng.hpp"
#include "base/status.hpp"

namespace crypto {

inline constexpr size_t kPublicKeySize = 32;   // Ed25519 public key
inline constexpr size_t kSecretKeySize = 64;   // Ed25519 secret key (seed || public key)
inline constexpr size_t kSeedSize = 32;
inline constexpr size_t kSignatureSize = 64;
inline constexpr size_t kMacSize = 16;         // keyed BLAKE2b, truncated
inline constexpr size_t kHashSize = 32;

using PublicKey = std::array<uint8_t, kPublicKeySize>;
using Signature = std::array<uint8_t, kSignatureSize>;
using Mac = std::array<uint8_t, kMacSize>;
using Hash = std::array<uint8_t, kHashSize>;

// Zeroes itself on destruction and cannot be copied, so a secret has one owner.
template <size_t N>
class SecretBytes {
public:
    SecretBytes() = default;
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& o) noexcept { move_from(o); }
    SecretBytes& operator=(SecretBytes&& o) noexcept {
        if (this != &o) move_from(o);
        return *this;
    }
    ~SecretBytes() { wipe(); }

    uint8_t* data() { return bytes_.data(); }
    const uint8_t* data() const { return bytes_.data(); }
    static constexpr size_t size() { return N; }
    std::span<const uint8_t, N> view() const { return std::span<const uint8_t, N>{bytes_}; }
    void wipe();

private:
    void move_from(SecretBytes& o) {
        bytes_ = o.bytes_;
        o.wipe();
    }
    std::array<uint8_t, N> bytes_{};
};

using SecretKey = SecretBytes<kSecretKeySize>;
using SymmetricKey = SecretBytes<32>;

void secure_wipe(void* p, size_t n);
template <size_t N>
void SecretBytes<N>::wipe() {
    secure_wipe(bytes_.data(), N);
}

// The node's long-term Ed25519 key pair.
struct Identity {
    PublicKey public_key{};
    SecretKey secret_key;

    static Identity generate();
    // Deterministic: simulations and known-answer tests derive keys from a seed.
    static Identity from_seed(std::span<const uint8_t, kSeedSize> seed);
    static Identity from_rng(base::Rng& rng);
};

// sodium_init(); call once from main before anything else here.
base::Status init();

// Ed25519 signatures.
Signature sign(const Identity& id, std::span<const uint8_t> message);
bool verify(const PublicKey& pk, std::span<const uint8_t> message, const Signature& sig);
// True when pk decodes to a curve point usable for key agreement (rejects small-order points).
bool is_valid_public_key(const PublicKey& pk);

// BLAKE2b-256, unkeyed and keyed.
Hash hash(std::span<const uint8_t> data);
Hash keyed_hash(std::span<const uint8_t> key, std::span<const uint8_t> data);
Mac mac(std::span<const uint8_t, 32> key, std::span<const uint8_t> data);
// Constant-time comparison.
bool equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace crypto
