#pragma once
// Pairwise MAC keys between two static identities, as Tox authenticates DHT packets: both sides
// convert their Ed25519 keys to X25519, agree on a shared secret and hash it into a MAC key. The
// agreement costs one X25519 (about 130 us here); the result is cached, so every later datagram
// costs one keyed BLAKE2b (about 1.5 us per KiB).
#include <cstddef>
#include <list>
#include <optional>
#include <unordered_map>

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
    size_t size() const { return map_.size(); }

private:
    struct Entry {
        PublicKey peer;
        std::array<uint8_t, 32> key;
    };
    struct PkHash {
        size_t operator()(const PublicKey& k) const noexcept;
    };
    const std::array<uint8_t, 32>* lookup(const PublicKey& peer);

    const Identity& self_;
    std::array<uint8_t, 32> curve_secret_{};
    size_t capacity_;
    size_t agreements_ = 0;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<PublicKey, std::list<Entry>::iterator, PkHash> map_;
};

}  // namespace crypto
