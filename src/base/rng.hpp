#pragma once
// Randomness is injected. Production uses crypto::SodiumRng; tests and simulations use SeededRng
// so that one seed replays a run exactly.
#include <cstddef>
#include <cstdint>
#include <span>

namespace base {

class Rng {
public:
    virtual ~Rng() = default;
    virtual void fill(std::span<std::byte> out) = 0;
    uint64_t next_u64();
    // Uniform in [0, bound); REQUIRES: bound > 0.
    uint64_t uniform(uint64_t bound);
    double unit();  // [0, 1)
};

// xoshiro256** seeded through splitmix64: fast, small, reproducible; not for secrets.
class SeededRng final : public Rng {
public:
    explicit SeededRng(uint64_t seed);
    void fill(std::span<std::byte> out) override;
    uint64_t step();

private:
    uint64_t s_[4];
};

}  // namespace base
