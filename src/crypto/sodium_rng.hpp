#pragma once
#include "base/rng.hpp"

namespace crypto {

// The operating system's CSPRNG through libsodium; used for keys, tokens and transaction ids.
class SodiumRng final : public base::Rng {
public:
    void fill(std::span<std::byte> out) override;
};

}  // namespace crypto
