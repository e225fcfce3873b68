#pragma once
// 256-bit node IDs and keys, XOR distance (Kademlia §2.1). A node's ID *is* its Ed25519 public
// key: the binding needs no extra proof field, any datagram MAC'd under the ID is
// authentic, and a peer's key is known as soon as its ID is (docs/PROTOCOL.md §Identity).
#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/rng.hpp"
#include "base/status.hpp"

namespace dht {

class NodeId {
public:
    static constexpr size_t kBytes = 32;
    static constexpr int kBits = 256;
    using Bytes = std::array<uint8_t, kBytes>;

    NodeId() = default;
    explicit NodeId(const Bytes& b) : bytes_{b} {}
    static base::Result<NodeId> from_hex(std::string_view hex);  // exactly 64 hex digits
    static NodeId random(base::Rng& rng);
    // BLAKE2b-256 of an arbitrary string: how `dht put KEY` turns a name into a key.
    static NodeId hash_of(std::string_view text);

    const Bytes& bytes() const { return bytes_; }
    Bytes& bytes() { return bytes_; }
    std::string hex() const;
    std::string short_hex() const;  // first 8 hex digits, for logs and tables

    bool bit(int i) const { return (bytes_[i / 8] >> (7 - i % 8)) & 1; }
    void set_bit(int i, bool v);

    friend bool operator==(const NodeId&, const NodeId&) = default;
    friend auto operator<=>(const NodeId&, const NodeId&) = default;

private:
    Bytes bytes_{};
};

using Key = NodeId;  // values live at keys in the same space

NodeId distance(const NodeId& a, const NodeId& b);
// Number of leading bits a and b share (256 if equal).
int common_prefix_length(const NodeId& a, const NodeId& b);
// True if a is strictly closer to target than b.
bool closer(const NodeId& a, const NodeId& b, const NodeId& target);
// A random ID sharing exactly `prefix` leading bits with `base` (bucket refresh targets).
NodeId random_with_prefix(const NodeId& base, int prefix, base::Rng& rng);

struct NodeIdHash {
    size_t operator()(const NodeId& id) const noexcept;
};

}  // namespace dht
