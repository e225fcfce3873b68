#include "crypto/pairwise_keys.hpp"

#include "crypto/montgomery.hpp"

#include <sodium.h>

#include <cstring>

namespace crypto {

namespace {
constexpr char kMacKeyContext[] = "kadchat dht datagram mac v1";
}

PairwiseKeys::PairwiseKeys(const Identity& self, size_t capacity)
    : self_{self}, capacity_{capacity == 0 ? 1 : capacity} {
    entries_.reserve(capacity_);
    tags_.reserve(capacity_);
    crypto_sign_ed25519_sk_to_curve25519(curve_secret_.data(), self_.secret_key.data());
}

PairwiseKeys::~PairwiseKeys() {
    sodium_memzero(curve_secret_.data(), curve_secret_.size());
    for (auto& e : entries_) sodium_memzero(e.key.data(), e.key.size());
}

namespace {
uint64_t tag_of(const PublicKey& k) {
    uint64_t t;
    std::memcpy(&t, k.data(), sizeof t);
    return t;
}
}  // namespace

const std::array<uint8_t, 32>* PairwiseKeys::lookup(const PublicKey& peer) {
    uint64_t tag = tag_of(peer);
    for (size_t i = 0; i < tags_.size(); ++i) {
        if (tags_[i] == tag && entries_[i].peer == peer) {
            entries_[i].last_used = ++clock_;
            return &entries_[i].key;
        }
    }
    auto peer_curve = edwards_to_montgomery(peer);
    if (!peer_curve) return nullptr;
    unsigned char shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(shared, curve_secret_.data(), peer_curve->data()) != 0) return nullptr;
    ++agreements_;
    // Both sides must hash the same bytes: order the two public keys.
    const PublicKey& a = std::min(peer, self_.public_key);
    const PublicKey& b = std::max(peer, self_.public_key);
    size_t slot = entries_.size();
    if (entries_.size() >= capacity_) {
        slot = 0;
        for (size_t i = 1; i < entries_.size(); ++i)
            if (entries_[i].last_used < entries_[slot].last_used) slot = i;
    } else {
        entries_.push_back({});
        tags_.push_back(0);
    }
    Entry& e = entries_[slot];
    e.peer = peer;
    e.last_used = ++clock_;
    tags_[slot] = tag;
    crypto_generichash_state st;
    crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(kMacKeyContext),
                            sizeof kMacKeyContext - 1, e.key.size());
    crypto_generichash_update(&st, shared, sizeof shared);
    crypto_generichash_update(&st, a.data(), a.size());
    crypto_generichash_update(&st, b.data(), b.size());
    crypto_generichash_final(&st, e.key.data(), e.key.size());
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(&st, sizeof st);
    return &e.key;
}

std::optional<Mac> PairwiseKeys::mac(const PublicKey& peer, std::span<const uint8_t> data) {
    const auto* key = lookup(peer);
    if (!key) return std::nullopt;
    return crypto::mac(*key, data);
}

}  // namespace crypto
