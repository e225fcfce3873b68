#pragma once
#include <cstdint>
#include <span>

#include "base/endpoint.hpp"

namespace dht {

// Where the core's datagrams go. The runtime sends them on a libuv socket; simulations put them
// in a delivery queue. send() must not call back into the node.
class Transport {
public:
    virtual ~Transport() = default;
    virtual void send(const base::Endpoint& to, std::span<const uint8_t> datagram) = 0;
};

}  // namespace dht
