#include "base/rng.hpp"

#include <cstring>

namespace base {

uint64_t Rng::next_u64() {
    uint64_t v = 0;
    fill(std::as_writable_bytes(std::span{&v, 1}));
    return v;
}

uint64_t Rng::uniform(uint64_t bound) {
    // Rejection sampling avoids modulo bias.
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        uint64_t v = next_u64();
        if (v < limit) return v % bound;
    }
}

double Rng::unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

namespace {
uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

SeededRng::SeededRng(uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
}

uint64_t SeededRng::step() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

void SeededRng::fill(std::span<std::byte> out) {
    size_t i = 0;
    while (i < out.size()) {
        uint64_t v = step();
        size_t n = std::min(out.size() - i, sizeof v);
        std::memcpy(out.data() + i, &v, n);
        i += n;
    }
}

}  // namespace base
