#include "dht/node_id.hpp"

#include <bit>
#include <cstring>

#include "base/hex.hpp"
#include "crypto/keys.hpp"

namespace dht {

base::Result<NodeId> NodeId::from_hex(std::string_view hex) {
    NodeId id;
    if (!base::from_hex_exact(hex, id.bytes_))
        return base::malformed("expected 64 hex digits, got '" + std::string(hex.substr(0, 80)) + "'");
    return id;
}

NodeId NodeId::random(base::Rng& rng) {
    NodeId id;
    rng.fill(std::as_writable_bytes(std::span{id.bytes_}));
    return id;
}

NodeId NodeId::hash_of(std::string_view text) {
    auto h = crypto::hash({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    return NodeId{h};
}

std::string NodeId::hex() const { return base::to_hex(std::span<const uint8_t>{bytes_}); }
std::string NodeId::short_hex() const { return hex().substr(0, 8); }

void NodeId::set_bit(int i, bool v) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (i % 8));
    if (v)
        bytes_[i / 8] |= mask;
    else
        bytes_[i / 8] &= static_cast<uint8_t>(~mask);
}

NodeId distance(const NodeId& a, const NodeId& b) {
    NodeId d;
    for (size_t i = 0; i < NodeId::kBytes; ++i) d.bytes()[i] = a.bytes()[i] ^ b.bytes()[i];
    return d;
}

int common_prefix_length(const NodeId& a, const NodeId& b) {
    for (size_t i = 0; i < NodeId::kBytes; ++i) {
        uint8_t x = a.bytes()[i] ^ b.bytes()[i];
        if (x) return static_cast<int>(i * 8) + std::countl_zero(x);
    }
    return NodeId::kBits;
}

bool closer(const NodeId& a, const NodeId& b, const NodeId& target) {
    for (size_t i = 0; i < NodeId::kBytes; ++i) {
        uint8_t da = a.bytes()[i] ^ target.bytes()[i];
        uint8_t db = b.bytes()[i] ^ target.bytes()[i];
        if (da != db) return da < db;
    }
    return false;
}

NodeId random_with_prefix(const NodeId& base, int prefix, base::Rng& rng) {
    NodeId id = NodeId::random(rng);
    for (int i = 0; i < prefix && i < NodeId::kBits; ++i) id.set_bit(i, base.bit(i));
    if (prefix < NodeId::kBits) id.set_bit(prefix, !base.bit(prefix));
    return id;
}

size_t NodeIdHash::operator()(const NodeId& id) const noexcept {
    size_t h;
    std::memcpy(&h, id.bytes().data() + 8, sizeof h);
    return h;
}

}  // namespace dht
