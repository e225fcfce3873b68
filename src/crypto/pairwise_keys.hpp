#pragma once
// Pairwise MAC keys between two static identities, as Tox authenticates DHT packets: both sides
// convert their Ed25519 keys to X25519, agree on a shared secret and hash it into a MAC key. The
// agreement costs one X25519 and one field inversion (about 55 us here); the result is cached,
// so every later datagram costs one keyed BLAKE2b (about 1.5 us per KiB).
#include <cstddef>
#include <optional>
#include <vector>

#include "crypto/keys.hpp"

namespace crypto {

class PairwiseKeys {
public:
    // REQUIRES: `self` outlives this object.
    PairwiseKeys(const Identity& self, size_t capacity);
    ~PairwiseKeys();
    PairwiseKeys(const PairwiseKeys&) = delete;
    PairwiseKeys& operator=(const PairwiseKeys&) = delete;

    // MAC of `data` under the key shared with `peer`; nullopt if `peer` is not a usable key.
    std::optional<Mac> mac(const PublicKey& peer, std::span<const uint8_t> data);
    size_t agreements() const { return agreements_; }  // X25519 operations done so far
    size_t size() const { return entries_.size(); }

private:
    // A flat cache, not a list plus a hash map: a thousand nodes in one process each hold one,
    // and the node-based containers cost twice the memory. Finding a peer scans `tags_` (the
    // first 8 bytes of each key, contiguous); evicting scans for the oldest use, which only
    // happens next to an X25519 that costs far more.
    struct Entry {
        PublicKey peer;
        std::array<uint8_t, 32> key;
        uint64_t last_used;
    };
    const std::array<uint8_t, 32>* lookup(const PublicKey& peer);

    const Identity& self_;
    std::array<uint8_t, 32> curve_secret_{};
    size_t capacity_;
    size_t agreements_ = 0;
    uint64_t clock_ = 0;
    std::vector<uint64_t> tags_;
    std::vector<Entry> entries_;
};

}  // namespace crypto
