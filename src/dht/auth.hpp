#pragma once
// Who may claim an ID. Every datagram but a hello ends in an authenticator over all bytes before
// it (docs/PROTOCOL.md §2):
//   ,"mac":"<32 hex>"}   keyed BLAKE2b under the pairwise key of sender and recipient IDs
// sign/verify are the node's Ed25519 signatures, for mailbox items (their author's proof).
// The interface lets simulations swap in a cheap stand-in; production uses CryptoAuthenticator.
#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "crypto/keys.hpp"
#include "crypto/pairwise_keys.hpp"
#include "dht/node_id.hpp"

namespace dht {

class Authenticator {
public:
    virtual ~Authenticator() = default;
    virtual const NodeId& self() const = 0;
    // nullopt if `peer` is not a valid public key (such an ID cannot be a node).
    virtual std::optional<crypto::Mac> mac(const NodeId& peer, std::span<const uint8_t> data) = 0;
    virtual crypto::Signature sign(std::span<const uint8_t> data) = 0;
    virtual bool verify(const NodeId& peer, std::span<const uint8_t> data,
                        const crypto::Signature& sig) = 0;
};

class CryptoAuthenticator final : public Authenticator {
public:
    // REQUIRES: `id` outlives this object.
    CryptoAuthenticator(const crypto::Identity& id, size_t key_cache);
    const NodeId& self() const override { return self_; }
    std::optional<crypto::Mac> mac(const NodeId& peer, std::span<const uint8_t> data) override;
    crypto::Signature sign(std::span<const uint8_t> data) override;
    bool verify(const NodeId& peer, std::span<const uint8_t> data,
                const crypto::Signature& sig) override;
    size_t agreements() const { return keys_.agreements(); }

private:
    const crypto::Identity& id_;
    NodeId self_;
    crypto::PairwiseKeys keys_;
};

}  // namespace dht
