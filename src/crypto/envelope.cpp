#include "crypto/envelope.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

namespace crypto {

namespace {
constexpr char kSigContext[] = "kadchat envelope v1\n";
constexpr char kKeyLabel[] = "kadchat envelope key v1";
constexpr size_t kHeader = 1 + 32 + 24;

bool envelope_key(const uint8_t* secret, const uint8_t* peer_pub, const noise::Bytes32& eph_pub,
                  const noise::Bytes32& recipient_x, uint8_t key[32]) {
    uint8_t shared[32];
    if (crypto_scalarmult(shared, secret, peer_pub) != 0) return false;
    crypto_generichash_state st;
    crypto_generichash_init(&st, shared, sizeof shared, 32);
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kKeyLabel), sizeof kKeyLabel - 1);
    crypto_generichash_update(&st, eph_pub.data(), 32);
    crypto_generichash_update(&st, recipient_x.data(), 32);
    crypto_generichash_final(&st, key, 32);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(&st, sizeof st);
    return true;
}

std::vector<uint8_t> signed_bytes(const PublicKey& recipient, const uint8_t* eph, const PublicKey& sender,
                                  const uint8_t* id, const uint8_t* ts, std::span<const uint8_t> payload) {
    // The fixed part is built in an array of known size, then the payload appended: GCC 12
    // warns falsely (-Wstringop-overflow, -Warray-bounds) about raw copies into a fresh vector.
    constexpr size_t ctx = sizeof kSigContext - 1;
    std::array<uint8_t, ctx + 32 + 32 + 32 + 16 + 8> head{};
    uint8_t* p = head.data();
    std::memcpy(p, kSigContext, ctx);
    std::memcpy(p += ctx, recipient.data(), 32);
    std::memcpy(p += 32, eph, 32);
    std::memcpy(p += 32, sender.data(), 32);
    std::memcpy(p += 32, id, 16);
    std::memcpy(p += 16, ts, 8);
    std::vector<uint8_t> m;
    m.reserve(head.size() + payload.size());
    m.assign(head.begin(), head.end());
    m.insert(m.end(), payload.begin(), payload.end());
    return m;
}

void ad_of(const uint8_t* eph, const PublicKey& recipient, uint8_t out[65]) {
    out[0] = kEnvelopeVersion;
    std::memcpy(out + 1, eph, 32);
    std::memcpy(out + 33, recipient.data(), 32);
}
}  // namespace

base::Result<std::vector<uint8_t>> seal_envelope(const Identity& sender, const PublicKey& recipient,
                                                 const MessageId& id, uint64_t timestamp_ms,
                                                 std::span<const uint8_t> payload, base::Rng& rng) {
    if (payload.size() > kMaxEnvelopePayload) return base::Status{base::Errc::too_large, "message too large"};
    auto rx = noise::static_public_of(recipient);
    if (!rx) return base::Status{base::Errc::invalid_argument, "the recipient's key is not a valid public key"};
    auto eph = noise::KeyPair::generate(rng);
    std::vector<uint8_t> env(kHeader);
    env[0] = kEnvelopeVersion;
    std::memcpy(env.data() + 1, eph.pub.data(), 32);
    rng.fill(std::as_writable_bytes(std::span{env.data() + 33, 24}));
    uint8_t key[32];
    if (!envelope_key(eph.secret.data(), rx->data(), eph.pub, *rx, key))
        return base::Status{base::Errc::invalid_argument, "the recipient's key is of small order"};

    uint8_t ts[8];
    for (int i = 0; i < 8; ++i) ts[i] = static_cast<uint8_t>(timestamp_ms >> (56 - 8 * i));
    auto to_sign = signed_bytes(recipient, eph.pub.data(), sender.public_key, id.data(), ts, payload);
    Signature sig = sign(sender, to_sign);
    std::vector<uint8_t> plain;
    plain.reserve(32 + 16 + 8 + payload.size() + 64);
    plain.insert(plain.end(), sender.public_key.begin(), sender.public_key.end());
    plain.insert(plain.end(), id.begin(), id.end());
    plain.insert(plain.end(), ts, ts + 8);
    plain.insert(plain.end(), payload.begin(), payload.end());
    plain.insert(plain.end(), sig.begin(), sig.end());
    uint8_t ad[65];
    ad_of(eph.pub.data(), recipient, ad);
    env.resize(kHeader + plain.size() + 16);
    unsigned long long len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(env.data() + kHeader, &len, plain.data(), plain.size(), ad, sizeof ad,
                                               nullptr, env.data() + 33, key);
    sodium_memzero(key, sizeof key);
    sodium_memzero(plain.data(), plain.size());
    return env;
}

EnvelopeOpener::EnvelopeOpener(const Identity& me) : me_{me}, x_{noise::static_keys_of(me)} {}

base::Result<Letter> EnvelopeOpener::open(std::span<const uint8_t> env) {
    if (env.size() < kEnvelopeOverhead || env.size() > kEnvelopeOverhead + kMaxEnvelopePayload) {
        ++counts_.malformed;
        return base::malformed("envelope of " + std::to_string(env.size()) + " bytes");
    }
    if (env[0] != kEnvelopeVersion) {
        ++counts_.malformed;
        return base::malformed("envelope version " + std::to_string(env[0]));
    }
    noise::Bytes32 eph;
    std::memcpy(eph.data(), env.data() + 1, 32);
    uint8_t key[32];
    if (!envelope_key(x_.secret.data(), eph.data(), eph, x_.pub, key)) {
        ++counts_.undecryptable;
        return base::Status{base::Errc::crypto, "envelope not for us or tampered"};
    }
    uint8_t ad[65];
    ad_of(eph.data(), me_.public_key, ad);
    std::vector<uint8_t> plain(env.size() - kHeader - 16);
    unsigned long long len = 0;
    bool ok = crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &len, nullptr, env.data() + kHeader,
                                                         env.size() - kHeader, ad, sizeof ad, env.data() + 33,
                                                         key) == 0;
    sodium_memzero(key, sizeof key);
    if (!ok) {
        ++counts_.undecryptable;
        return base::Status{base::Errc::crypto, "envelope not for us or tampered"};
    }
    Letter l;
    l.recipient = me_.public_key;
    std::memcpy(l.sender.data(), plain.data(), 32);
    std::memcpy(l.id.data(), plain.data() + 32, 16);
    const uint8_t* ts = plain.data() + 48;
    for (int i = 0; i < 8; ++i) l.timestamp_ms = l.timestamp_ms << 8 | ts[i];
    size_t payload_len = plain.size() - 56 - 64;
    std::span<const uint8_t> payload{plain.data() + 56, payload_len};
    Signature sig;
    std::memcpy(sig.data(), plain.data() + 56 + payload_len, 64);
    auto to_check = signed_bytes(me_.public_key, eph.data(), l.sender, l.id.data(), ts, payload);
    if (!verify(l.sender, to_check, sig)) {
        ++counts_.forged;
        return base::Status{base::Errc::crypto, "envelope with a forged sender"};
    }
    l.payload.assign(payload.begin(), payload.end());
    sodium_memzero(plain.data(), plain.size());
    ++counts_.opened;
    return l;
}

}  // namespace crypto
