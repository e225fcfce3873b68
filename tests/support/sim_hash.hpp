#pragma once
// A fast, non-cryptographic hash for the simulator's own bookkeeping (the stand-in authenticator,
// the run digest). It takes 8 bytes per step: byte-at-a-time FNV was an eighth of a large churn
// run's time. Not for anything an attacker can choose inputs to.
#include <cstdint>
#include <cstring>
#include <span>

namespace sim {

inline uint64_t mix_bytes(uint64_t h, std::span<const uint8_t> data) {
    auto step = [&h](uint64_t w) {
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    };
    size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, data.data() + i, 8);
        step(w);
    }
    uint64_t tail = data.size();  // the length goes in, so "ab" and "ab\0" differ
    for (size_t k = 0; i + k < data.size(); ++k) tail ^= static_cast<uint64_t>(data[i + k]) << (8 * (k + 1));
    step(tail);
    return h;
}

}  // namespace sim
