#include "crypto/address.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

#include "base/hex.hpp"

namespace crypto {

namespace {
constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr size_t kPayload = 32 + 4;

std::array<uint8_t, 4> checksum(const PublicKey& pk) {
    static constexpr char kLabel[] = "kadchat address v1";
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, sizeof h);
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1);
    crypto_generichash_update(&st, pk.data(), pk.size());
    crypto_generichash_final(&st, h, sizeof h);
    return {h[0], h[1], h[2], h[3]};
}

int value_of(char c) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    for (int i = 0; i < 32; ++i)
        if (kAlphabet[i] == c) return i;
    return -1;
}
}  // namespace

std::string encode_address(const PublicKey& pk) {
    uint8_t payload[kPayload];
    std::memcpy(payload, pk.data(), 32);
    auto cs = checksum(pk);
    std::memcpy(payload + 32, cs.data(), 4);
    std::string out = kAddressPrefix;
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t b : payload) {
        acc = acc << 8 | b;
        bits += 8;
        while (bits >= 5) {
            out.push_back(kAlphabet[(acc >> (bits - 5)) & 31]);
            bits -= 5;
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 31]);
    return out;
}

base::Result<PublicKey> decode_address(std::string_view in) {
    std::string s;
    for (char c : in)
        if (c != ' ' && c != '-' && c != '\n' && c != '\t') s.push_back(c);
    if (s.size() < 3 || (s.compare(0, 3, "kc1") != 0 && s.compare(0, 3, "KC1") != 0))
        return base::malformed("not a kadchat address: it must start with kc1");
    if (s.size() != kAddressLength)
        return base::malformed("kadchat address has " + std::to_string(s.size()) + " characters, expected " +
                               std::to_string(kAddressLength) + " (cut short or run together?)");
    uint8_t payload[kPayload];
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 3; i < s.size(); ++i) {
        int v = value_of(s[i]);
        if (v < 0)
            return base::malformed(std::string("kadchat address has '") + s[i] + "' at position " +
                                   std::to_string(i + 1) + ", which is not in its alphabet (a-z, 2-7)");
        acc = acc << 5 | static_cast<uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            payload[n++] = static_cast<uint8_t>(acc >> (bits - 8));
            bits -= 8;
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) return base::malformed("kadchat address does not check out (mistyped?)");
    PublicKey pk;
    std::memcpy(pk.data(), payload, 32);
    auto cs = checksum(pk);
    if (std::memcmp(cs.data(), payload + 32, 4) != 0)
        return base::malformed("kadchat address does not check out (mistyped?)");
    return pk;
}

base::Result<PublicKey> parse_peer(std::string_view text) {
    if (text.size() == 64) {
        PublicKey pk;
        if (base::from_hex_exact(text, pk)) return pk;
        return base::malformed("a node ID is 64 hex digits");
    }
    return decode_address(text);
}

}  // namespace crypto
