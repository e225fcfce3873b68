#pragma once
// The address a user gives to friends: "kc1" followed by the Ed25519 public key and a 4-byte
// checksum in base32 (RFC 4648 alphabet, lower case, no padding), 61 characters in all. The
// node ID is the public key inside. The checksum (BLAKE2b of a label and the key) catches a
// mistyped address before any network traffic: a random typo passes with probability 2^-32.
#include <string>
#include <string_view>

#include "base/status.hpp"
#include "crypto/keys.hpp"

namespace crypto {

inline constexpr char kAddressPrefix[] = "kc1";
inline constexpr size_t kAddressLength = 3 + 58;

std::string encode_address(const PublicKey& pk);
// Accepts upper or lower case and ignores spaces and dashes people insert when copying.
base::Result<PublicKey> decode_address(std::string_view address);
// An address, or a node ID as 64 hex digits (which has no checksum).
base::Result<PublicKey> parse_peer(std::string_view text);

}  // namespace crypto
