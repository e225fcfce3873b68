#include "crypto/montgomery.hpp"

#include <cstring>

namespace crypto {

namespace {

// Field elements mod p = 2^255 - 19 as five 51-bit limbs. Between operations limbs stay below
// 2^52, so every product sum fits in 128 bits with room to spare.
__extension__ typedef unsigned __int128 u128;  // GCC and Clang on 64-bit targets
constexpr uint64_t kMask = (uint64_t{1} << 51) - 1;

struct Fe {
    uint64_t v[5];
};

Fe carry(const u128 r[5]) {
    Fe out;
    u128 c = 0;
    u128 t[5];
    for (int i = 0; i < 5; ++i) {
        t[i] = r[i] + c;
        c = t[i] >> 51;
        out.v[i] = static_cast<uint64_t>(t[i]) & kMask;
    }
    // 2^255 = 19 mod p: the carry out of the top limb folds back into the bottom one.
    uint64_t low = out.v[0] + static_cast<uint64_t>(c) * 19;
    out.v[0] = low & kMask;
    out.v[1] += low >> 51;
    return out;
}

Fe mul(const Fe& a, const Fe& b) {
    const uint64_t* x = a.v;
    const uint64_t* y = b.v;
    uint64_t y19[5];
    for (int i = 0; i < 5; ++i) y19[i] = y[i] * 19;
    u128 r[5];
    r[0] = u128{x[0]} * y[0] + u128{x[1]} * y19[4] + u128{x[2]} * y19[3] + u128{x[3]} * y19[2] + u128{x[4]} * y19[1];
    r[1] = u128{x[0]} * y[1] + u128{x[1]} * y[0] + u128{x[2]} * y19[4] + u128{x[3]} * y19[3] + u128{x[4]} * y19[2];
    r[2] = u128{x[0]} * y[2] + u128{x[1]} * y[1] + u128{x[2]} * y[0] + u128{x[3]} * y19[4] + u128{x[4]} * y19[3];
    r[3] = u128{x[0]} * y[3] + u128{x[1]} * y[2] + u128{x[2]} * y[1] + u128{x[3]} * y[0] + u128{x[4]} * y19[4];
    r[4] = u128{x[0]} * y[4] + u128{x[1]} * y[3] + u128{x[2]} * y[2] + u128{x[3]} * y[1] + u128{x[4]} * y[0];
    return carry(r);
}

// mul(a, a) with the symmetric products merged: 15 multiplications instead of 25.
Fe square(const Fe& a) {
    const uint64_t* x = a.v;
    uint64_t d0 = 2 * x[0], d1 = 2 * x[1], d2 = 2 * x[2], d3 = 2 * x[3];
    uint64_t x3_19 = 19 * x[3], x4_19 = 19 * x[4];
    u128 r[5];
    r[0] = u128{x[0]} * x[0] + u128{d1} * x4_19 + u128{d2} * x3_19;
    r[1] = u128{d0} * x[1] + u128{d2} * x4_19 + u128{x[3]} * x3_19;
    r[2] = u128{d0} * x[2] + u128{x[1]} * x[1] + u128{d3} * x4_19;
    r[3] = u128{d0} * x[3] + u128{d1} * x[2] + u128{x[4]} * x4_19;
    r[4] = u128{d0} * x[4] + u128{d1} * x[3] + u128{x[2]} * x[2];
    return carry(r);
}

Fe square_n(Fe a, int n) {
    for (int i = 0; i < n; ++i) a = square(a);
    return a;
}

// z^(p-2) = 1/z by Fermat, along the usual chain for 2^255 - 21: 254 squarings, 11 products.
Fe invert(const Fe& z) {
    Fe z2 = square(z);
    Fe z9 = mul(square_n(z2, 2), z);
    Fe z11 = mul(z9, z2);
    Fe e5 = mul(square(z11), z9);           // z^(2^5 - 1)
    Fe e10 = mul(square_n(e5, 5), e5);        // z^(2^10 - 1)
    Fe e20 = mul(square_n(e10, 10), e10);
    Fe e40 = mul(square_n(e20, 20), e20);
    Fe e50 = mul(square_n(e40, 10), e10);
    Fe e100 = mul(square_n(e50, 50), e50);
    Fe e200 = mul(square_n(e100, 100), e100);
    Fe e250 = mul(square_n(e200, 50), e50);   // z^(2^250 - 1)
    return mul(square_n(e250, 5), z11);       // z^(2^255 - 32 + 11)
}

uint64_t load64(const uint8_t* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian host (x86-64, aarch64)
    return w;
}

Fe from_bytes(const std::array<uint8_t, 32>& b) {
    uint64_t w0 = load64(b.data()), w1 = load64(b.data() + 8), w2 = load64(b.data() + 16),
             w3 = load64(b.data() + 24) & ~(uint64_t{1} << 63);
    return Fe{{w0 & kMask, ((w0 >> 51) | (w1 << 13)) & kMask, ((w1 >> 38) | (w2 << 26)) & kMask,
               ((w2 >> 25) | (w3 << 39)) & kMask, (w3 >> 12) & kMask}};
}

// Fully reduced little-endian bytes.
std::array<uint8_t, 32> to_bytes(Fe f) {
    u128 r[5] = {f.v[0], f.v[1], f.v[2], f.v[3], f.v[4]};
    f = carry(r);
    u128 r2[5] = {f.v[0], f.v[1], f.v[2], f.v[3], f.v[4]};
    f = carry(r2);  // now every limb < 2^51, so the value is < 2^255 and below 2p
    // Subtract p once if f >= p, that is if f + 19 overflows 2^255.
    uint64_t q = (f.v[0] + 19) >> 51;
    for (int i = 1; i < 5; ++i) q = (f.v[i] + q) >> 51;
    f.v[0] += 19 * q;
    for (int i = 0; i < 4; ++i) {
        f.v[i + 1] += f.v[i] >> 51;
        f.v[i] &= kMask;
    }
    f.v[4] &= kMask;
    uint64_t w[4] = {f.v[0] | (f.v[1] << 51), (f.v[1] >> 13) | (f.v[2] << 38), (f.v[2] >> 26) | (f.v[3] << 25),
                     (f.v[3] >> 39) | (f.v[4] << 12)};
    std::array<uint8_t, 32> out;
    std::memcpy(out.data(), w, 32);
    return out;
}

bool is_canonical_y(const std::array<uint8_t, 32>& b) {
    // y >= p exactly when the low 255 bits are 2^255 - 19 .. 2^255 - 1: 0x7f..ff with the first
    // byte at least 0xed.
    if ((b[31] & 0x7f) != 0x7f) return true;
    for (int i = 30; i >= 1; --i)
        if (b[static_cast<size_t>(i)] != 0xff) return true;
    return b[0] < 0xed;
}

}  // namespace

std::optional<std::array<uint8_t, 32>> edwards_to_montgomery(const std::array<uint8_t, 32>& ed_public) {
    if (!is_canonical_y(ed_public)) return std::nullopt;
    Fe y = from_bytes(ed_public);
    Fe num = y;
    num.v[0] += 1;
    // 1 - y as 2p + 1 - y, so no limb goes negative.
    Fe den{{(2 * (kMask - 18)) + 1 - y.v[0], 2 * kMask - y.v[1], 2 * kMask - y.v[2], 2 * kMask - y.v[3],
            2 * kMask - y.v[4]}};
    auto den_bytes = to_bytes(den);
    uint8_t any = 0;
    for (uint8_t c : den_bytes) any |= c;
    if (any == 0) return std::nullopt;  // y = 1: the neutral element, no u
    return to_bytes(mul(num, invert(den)));
}

}  // namespace crypto
