#include "crypto/keys.hpp"

#include <sodium.h>

namespace crypto {

void secure_wipe(void* p, size_t n) { sodium_memzero(p, n); }

base::Status init() {
    if (sodium_init() < 0) return {base::Errc::internal, "libsodium failed to initialise"};
    return {};
}

Identity Identity::generate() {
    Identity id;
    crypto_sign_keypair(id.public_key.data(), id.secret_key.data());
    return id;
}

Identity Identity::from_seed(std::span<const uint8_t, kSeedSize> seed) {
    Identity id;
    crypto_sign_seed_keypair(id.public_key.data(), id.secret_key.data(), seed.data());
    return id;
}

Identity Identity::from_rng(base::Rng& rng) {
    std::array<uint8_t, kSeedSize> seed{};
    rng.fill(std::as_writable_bytes(std::span{seed}));
    Identity id = from_seed(seed);
    sodium_memzero(seed.data(), seed.size());
    return id;
}

Signature sign(const Identity& id, std::span<const uint8_t> message) {
    Signature sig{};
    crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(),
                         id.secret_key.data());
    return sig;
}

bool verify(const PublicKey& pk, std::span<const uint8_t> message, const Signature& sig) {
    return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), pk.data()) == 0;
}

bool is_valid_public_key(const PublicKey& pk) {
    unsigned char curve[crypto_scalarmult_curve25519_BYTES];
    return crypto_sign_ed25519_pk_to_curve25519(curve, pk.data()) == 0;
}

Hash hash(std::span<const uint8_t> data) {
    Hash h{};
    crypto_generichash(h.data(), h.size(), data.data(), data.size(), nullptr, 0);
    return h;
}

Hash keyed_hash(std::span<const uint8_t> key, std::span<const uint8_t> data) {
    Hash h{};
    crypto_generichash(h.data(), h.size(), data.data(), data.size(), key.data(), key.size());
    return h;
}

Mac mac(std::span<const uint8_t, 32> key, std::span<const uint8_t> data) {
    Mac m{};
    crypto_generichash(m.data(), m.size(), data.data(), data.size(), key.data(), key.size());
    return m;
}

bool equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace crypto
