#pragma once
// Fixed identities and messages behind tests/vectors/dht/ (docs/PROTOCOL.md examples).
#include <string>
#include <utility>
#include <vector>

#include "crypto/keys.hpp"
#include "dht/mailbox_store.hpp"
#include "dht/messages.hpp"

namespace vectors {

inline crypto::Identity alice() {
    std::array<uint8_t, 32> seed;
    seed.fill(0x01);
    return crypto::Identity::from_seed(seed);
}
inline crypto::Identity bob() {
    std::array<uint8_t, 32> seed;
    seed.fill(0x02);
    return crypto::Identity::from_seed(seed);
}

struct Vector {
    std::string name;
    dht::Message msg;
    bool from_alice;   // alice -> bob, else bob -> alice
    bool hello;        // sent without knowing the recipient's ID: no authenticator
};

std::vector<Vector> all();

}  // namespace vectors
