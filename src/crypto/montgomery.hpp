#pragma once
// The birational map from an Ed25519 public key (Edwards y, plus a sign bit) to the X25519
// u-coordinate of the same point: u = (1 + y) / (1 - y) mod 2^255 - 19.
//
// libsodium's crypto_sign_ed25519_pk_to_curve25519 computes the same u, but first decompresses
// the point and checks that it lies in the prime-order subgroup: two exponentiations and a
// scalar multiplication, about 75 us here, more than the X25519 that follows. For a DH with
// a clamped scalar those checks buy nothing: a torsion component is multiplied away by the
// cofactor, a point of small order gives the all-zero secret that crypto_scalarmult rejects,
// and a u on the twist leaks nothing (Curve25519 is twist-secure). So the map here is only the
// one field inversion (a few microseconds), and rejects what has no image: y >= p and y = 1.
#include <array>
#include <cstdint>
#include <optional>

namespace crypto {

std::optional<std::array<uint8_t, 32>> edwards_to_montgomery(const std::array<uint8_t, 32>& ed_public);

}  // namespace crypto
