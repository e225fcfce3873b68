#include "crypto/pairwise_keys.hpp"

#include <sodium.h>

#include <cstring>

namespace crypto {

namespace {
constexpr char kMacKeyContext[] = "kadchat dht datagram mac v1";
}

PairwiseKeys::PairwiseKeys(const Identity& self, size_t capacity)
    : self_{self}, capacity_{capacity == 0 ? 1 : capacity} {
    crypto_sign_ed25519_sk_to_curve25519(curve_secret_.data(), self_.secret_key.data());
}

PairwiseKeys::~PairwiseKeys() {
    sodium_memzero(curve_secret_.data(), curve_secret_.size());
    for (auto& e : lru_) sodium_memzero(e.key.data(), e.key.size());
}

size_t PairwiseKeys::PkHash::operator()(const PublicKey& k) const noexcept {
    size_t h;
    std::memcpy(&h, k.data(), sizeof h);  // keys are uniformly random already
    return h;
}

const std::array<uint8_t, 32>* PairwiseKeys::lookup(const PublicKey& peer) {
    if (auto it = map_.find(peer); it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return &it->second->key;
    }
    unsigned char peer_curve[crypto_scalarmult_curve25519_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(peer_curve, peer.data()) != 0) return nullptr;
    unsigned char shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(shared, curve_secret_.data(), peer_curve) != 0) return nullptr;
    ++agreements_;
    // Both sides must hash the same bytes: order the two public keys.
    const PublicKey& a = std::min(peer, self_.public_key);
    const PublicKey& b = std::max(peer, self_.public_key);
    Entry e{peer, {}};
    crypto_generichash_state st;
    crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(kMacKeyContext),
                            sizeof kMacKeyContext - 1, e.key.size());
    crypto_generichash_update(&st, shared, sizeof shared);
    crypto_generichash_update(&st, a.data(), a.size());
    crypto_generichash_update(&st, b.data(), b.size());
    crypto_generichash_final(&st, e.key.data(), e.key.size());
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(&st, sizeof st);

    if (map_.size() >= capacity_) {
        auto& victim = lru_.back();
        sodium_memzero(victim.key.data(), victim.key.size());
        map_.erase(victim.peer);
        lru_.pop_back();
    }
    lru_.push_front(e);
    sodium_memzero(e.key.data(), e.key.size());
    map_.emplace(peer, lru_.begin());
    return &lru_.front().key;
}

std::optional<Mac> PairwiseKeys::mac(const PublicKey& peer, std::span<const uint8_t> data) {
    const auto* key = lookup(peer);
    if (!key) return std::nullopt;
    return crypto::mac(*key, data);
}

}  // namespace crypto
