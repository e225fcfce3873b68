#pragma once
// Records what a node sends, for single-node protocol tests.
#include <string>
#include <vector>

#include "dht/transport.hpp"

namespace testing {

struct Sent {
    base::Endpoint to;
    std::string data;
};

class FakeTransport final : public dht::Transport {
public:
    void send(const base::Endpoint& to, std::span<const uint8_t> d) override {
        sent.push_back({to, std::string(reinterpret_cast<const char*>(d.data()), d.size())});
    }
    std::vector<Sent> sent;
};

inline std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace testing
