#include "dht/auth.hpp"

#include <cstring>
#include <string_view>
#include <vector>

namespace dht {

namespace {
// Domain separation: a DHT signature can never be replayed as some other kadchat signature.
constexpr std::string_view kSigContext = "kadchat dht v1 sig\n";

std::vector<uint8_t> with_context(std::span<const uint8_t> data) {
    // Sized once and filled with memcpy (GCC 12 warns falsely on vector::insert here).
    std::vector<uint8_t> m(kSigContext.size() + data.size());
    std::memcpy(m.data(), kSigContext.data(), kSigContext.size());
    if (!data.empty()) std::memcpy(m.data() + kSigContext.size(), data.data(), data.size());
    return m;
}
}  // namespace

CryptoAuthenticator::CryptoAuthenticator(const crypto::Identity& id, size_t key_cache)
    : id_{id}, self_{id.public_key}, keys_{id, key_cache} {}

std::optional<crypto::Mac> CryptoAuthenticator::mac(const NodeId& peer,
                                                    std::span<const uint8_t> data) {
    return keys_.mac(peer.bytes(), data);
}

crypto::Signature CryptoAuthenticator::sign(std::span<const uint8_t> data) {
    return crypto::sign(id_, with_context(data));
}

bool CryptoAuthenticator::verify(const NodeId& peer, std::span<const uint8_t> data,
                                 const crypto::Signature& sig) {
    return crypto::verify(peer.bytes(), with_context(data), sig);
}

}  // namespace dht
