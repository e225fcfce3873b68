#pragma once
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace base {

std::string to_hex(std::span<const std::byte> bytes);
std::string to_hex(std::span<const uint8_t> bytes);
// Appends, for encoders that build one string: no temporary per field.
void append_hex(std::string& out, std::span<const uint8_t> bytes);
// Lowercase or uppercase accepted; nullopt on odd length or a non-hex character.
std::optional<std::vector<uint8_t>> from_hex(std::string_view hex);
// Decodes exactly out.size() bytes; false on any mismatch.
bool from_hex_exact(std::string_view hex, std::span<uint8_t> out);

}  // namespace base
