#include "base/hex.hpp"

#include <array>
#include <cstring>

namespace base {

namespace {
// Tables rather than branches: every datagram carries ~20 IDs of 64 hex digits each way, and the
// branchy versions were 10 % of a 10,000-node simulation.
constexpr std::array<int8_t, 256> kNibble = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int c = 0; c < 10; ++c) t['0' + c] = static_cast<int8_t>(c);
    for (int c = 0; c < 6; ++c) t['a' + c] = t['A' + c] = static_cast<int8_t>(10 + c);
    return t;
}();
constexpr std::array<char, 512> kPairs = [] {
    constexpr char digits[] = "0123456789abcdef";
    std::array<char, 512> t{};
    for (int b = 0; b < 256; ++b) {
        t[2 * b] = digits[b >> 4];
        t[2 * b + 1] = digits[b & 15];
    }
    return t;
}();
}  // namespace

void append_hex(std::string& out, std::span<const uint8_t> bytes) {
    size_t at = out.size();
    out.resize(at + bytes.size() * 2);
    for (size_t i = 0; i < bytes.size(); ++i) std::memcpy(&out[at + 2 * i], &kPairs[2 * bytes[i]], 2);
}

std::string to_hex(std::span<const uint8_t> bytes) {
    std::string s;
    append_hex(s, bytes);
    return s;
}

std::string to_hex(std::span<const std::byte> bytes) {
    return to_hex(std::span{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

bool from_hex_exact(std::string_view hex, std::span<uint8_t> out) {
    if (hex.size() != out.size() * 2) return false;
    int bad = 0;  // any invalid digit makes it negative; checked once, at the end
    for (size_t i = 0; i < out.size(); ++i) {
        int hi = kNibble[static_cast<uint8_t>(hex[2 * i])], lo = kNibble[static_cast<uint8_t>(hex[2 * i + 1])];
        bad |= hi | lo;
        out[i] = static_cast<uint8_t>((hi & 15) << 4 | (lo & 15));
    }
    return bad >= 0;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2) return std::nullopt;
    std::vector<uint8_t> v(hex.size() / 2);
    if (!from_hex_exact(hex, v)) return std::nullopt;
    return v;
}

}  // namespace base
