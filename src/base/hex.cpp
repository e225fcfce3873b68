#include "base/hex.hpp"

namespace base {

namespace {
constexpr char kDigits[] = "0123456789abcdef";
int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string to_hex(std::span<const uint8_t> bytes) {
    std::string s;
    s.resize(bytes.size() * 2);
    for (size_t i = 0; i < bytes.size(); ++i) {
        s[2 * i] = kDigits[bytes[i] >> 4];
        s[2 * i + 1] = kDigits[bytes[i] & 15];
    }
    return s;
}

std::string to_hex(std::span<const std::byte> bytes) {
    return to_hex(std::span{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

bool from_hex_exact(std::string_view hex, std::span<uint8_t> out) {
    if (hex.size() != out.size() * 2) return false;
    for (size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return true;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2) return std::nullopt;
    std::vector<uint8_t> v(hex.size() / 2);
    if (!from_hex_exact(hex, v)) return std::nullopt;
    return v;
}

}  // namespace base
