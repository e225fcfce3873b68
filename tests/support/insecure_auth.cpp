#include "insecure_auth.hpp"

#include <algorithm>
#include <cstring>

#include "sim_hash.hpp"

namespace sim {

namespace {
template <size_t N>
std::array<uint8_t, N> expand(uint64_t h) {
    std::array<uint8_t, N> out{};
    for (size_t i = 0; i < N; i += 8) {
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL + i;
        std::memcpy(out.data() + i, &h, std::min<size_t>(8, N - i));
    }
    return out;
}
}  // namespace

std::optional<crypto::Mac> InsecureAuth::mac(const dht::NodeId& peer, std::span<const uint8_t> data) {
    const auto& a = std::min(peer, self_);
    const auto& b = std::max(peer, self_);
    uint64_t h = mix_bytes(mix_bytes(1469598103934665603ULL, a.bytes()), b.bytes());
    return expand<crypto::kMacSize>(mix_bytes(h, data));
}

crypto::Signature InsecureAuth::sign(std::span<const uint8_t> data) {
    return expand<crypto::kSignatureSize>(mix_bytes(mix_bytes(7, self_.bytes()), data));
}

bool InsecureAuth::verify(const dht::NodeId& peer, std::span<const uint8_t> data,
                          const crypto::Signature& sig) {
    return expand<crypto::kSignatureSize>(mix_bytes(mix_bytes(7, peer.bytes()), data)) == sig;
}

}  // namespace sim
