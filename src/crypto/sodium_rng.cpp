#include "crypto/sodium_rng.hpp"

#include <sodium.h>

namespace crypto {

void SodiumRng::fill(std::span<std::byte> out) { randombytes_buf(out.data(), out.size()); }

}  // namespace crypto
