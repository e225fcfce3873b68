#include "crypto/sodium_rng.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace crypto {

SodiumRng::~SodiumRng() { sodium_memzero(pool_.data(), pool_.size()); }

void SodiumRng::fill(std::span<std::byte> out) {
    if (out.size() > kPool / 4) {  // keys and bulk: straight from the OS
        randombytes_buf(out.data(), out.size());
        return;
    }
    std::lock_guard lock{mu_};
    size_t done = 0;
    while (done < out.size()) {
        if (used_ == kPool) {
            randombytes_buf(pool_.data(), pool_.size());
            used_ = 0;
        }
        size_t n = std::min(out.size() - done, kPool - used_);
        std::memcpy(out.data() + done, pool_.data() + used_, n);
        sodium_memzero(pool_.data() + used_, n);
        used_ += n;
        done += n;
    }
}

}  // namespace crypto
