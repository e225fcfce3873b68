#pragma once
#include <array>
#include <cstdint>
#include <mutex>

#include "base/rng.hpp"

namespace crypto {

// The operating system's CSPRNG through libsodium; used for keys, tokens and transaction ids.
// Small draws (IDs, nonces, txids: a chat message takes one) come from a 256-byte pool that one
// getrandom call refills; every byte handed out is wiped from the pool, so none is given twice and
// none stays behind. Not copyable: a copy would hand out the same bytes again.
class SodiumRng final : public base::Rng {
public:
    SodiumRng() = default;
    SodiumRng(const SodiumRng&) = delete;
    SodiumRng& operator=(const SodiumRng&) = delete;
    ~SodiumRng() override;
    void fill(std::span<std::byte> out) override;

private:
    static constexpr size_t kPool = 256;  // the most libsodium's getrandom path reads in one call
    std::mutex mu_;
    std::array<uint8_t, kPool> pool_{};
    size_t used_ = kPool;
};

}  // namespace crypto
