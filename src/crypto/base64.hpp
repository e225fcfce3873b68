#pragma once
// base64url without padding (RFC 4648 §5), libsodium's codec: a third denser than hex, for
// blobs that must fit one datagram (sealed offers and answers, PROTOCOL.md §16.6).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace crypto {

std::string to_base64url(std::span<const uint8_t> bytes);
// nullopt unless `text` is canonical base64url without padding.
std::optional<std::vector<uint8_t>> from_base64url(std::string_view text);

}  // namespace crypto
