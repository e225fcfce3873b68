#pragma once
// The known-answer vectors in tests/vectors/session/: one handshake (init, cookie reply,
// response), a transport frame each way and a sealed envelope, made from the fixed identities
// alice and bob, a seeded RNG (ephemeral keys, nonces, cookie secrets) and a fixed clock.
// make_vectors writes them; session_vectors_test checks that the code still produces them.
#include <string>
#include <utility>
#include <vector>

namespace vectors {

// (name, bytes) in a fixed order.
std::vector<std::pair<std::string, std::vector<uint8_t>>> session_messages();

}  // namespace vectors
