#pragma once
// A stand-in Authenticator for large simulations: it runs the same codec paths (every datagram
// still carries and checks a MAC or signature field) but derives them from a fast non-crypto
// hash, because 100,000 nodes would otherwise spend hours in X25519. It proves nothing; the real
// CryptoAuthenticator is covered by unit tests, the loopback tests and a smaller simulation.
#include "dht/auth.hpp"

namespace sim {

class InsecureAuth final : public dht::Authenticator {
public:
    explicit InsecureAuth(const dht::NodeId& self) : self_{self} {}
    const dht::NodeId& self() const override { return self_; }
    std::optional<crypto::Mac> mac(const dht::NodeId& peer, std::span<const uint8_t> data) override;
    crypto::Signature sign(std::span<const uint8_t> data) override;
    bool verify(const dht::NodeId& peer, std::span<const uint8_t> data,
                const crypto::Signature& sig) override;

private:
    dht::NodeId self_;
};

}  // namespace sim
