#include "crypto/noise.hpp"

#include <sodium.h>

#include <cstring>

#include "crypto/montgomery.hpp"

namespace crypto::noise {

namespace {
constexpr size_t kBlockLen = 128;  // BLAKE2b block, for HMAC

Hash64 hash_two(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, kHashLen);
    crypto_generichash_update(&st, a.data(), a.size());
    crypto_generichash_update(&st, b.data(), b.size());
    Hash64 out;
    crypto_generichash_final(&st, out.data(), out.size());
    return out;
}

void nonce_bytes(uint64_t n, uint8_t out[12]) {
    std::memset(out, 0, 4);
    for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(n >> (8 * i));
}

base::Status fail(const char* why) { return base::Status{base::Errc::crypto, why}; }
base::Status malformed(const char* why) { return base::Status{base::Errc::malformed, why}; }
}  // namespace

KeyPair KeyPair::from_secret(std::span<const uint8_t, 32> secret) {
    KeyPair kp;
    std::memcpy(kp.secret.data(), secret.data(), 32);
    crypto_scalarmult_base(kp.pub.data(), kp.secret.data());
    return kp;
}

KeyPair KeyPair::generate(base::Rng& rng) {
    // X25519(s, 9) by way of Ed25519's fixed-base table and the birational map: the same public
    // key (both clamp s; the map commutes with scalar multiplication) for half the cost of
    // libsodium's generic crypto_scalarmult_base, which runs the full ladder.
    KeyPair kp;
    rng.fill(std::as_writable_bytes(std::span{kp.secret.data(), 32}));
    std::array<uint8_t, 32> ed;
    if (crypto_scalarmult_ed25519_base(ed.data(), kp.secret.data()) == 0) {
        if (auto u = edwards_to_montgomery(ed)) {
            kp.pub = *u;
            return kp;
        }
    }
    crypto_scalarmult_base(kp.pub.data(), kp.secret.data());  // (never reached for a valid scalar)
    return kp;
}

KeyPair static_keys_of(const Identity& id) {
    KeyPair kp;
    crypto_sign_ed25519_sk_to_curve25519(kp.secret.data(), id.secret_key.data());
    crypto_scalarmult_base(kp.pub.data(), kp.secret.data());
    return kp;
}

std::optional<Bytes32> static_public_of(const PublicKey& ed25519_public) {
    return edwards_to_montgomery(ed25519_public);
}

Hash64 hmac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
    uint8_t k[kBlockLen] = {};
    if (key.size() > kBlockLen) {
        crypto_generichash(k, kHashLen, key.data(), key.size(), nullptr, 0);
    } else {
        std::memcpy(k, key.data(), key.size());
    }
    uint8_t pad[kBlockLen];
    for (size_t i = 0; i < kBlockLen; ++i) pad[i] = k[i] ^ 0x36;
    Hash64 inner = hash_two(pad, data);
    for (size_t i = 0; i < kBlockLen; ++i) pad[i] = k[i] ^ 0x5c;
    Hash64 out = hash_two(pad, inner);
    sodium_memzero(k, sizeof k);
    sodium_memzero(pad, sizeof pad);
    sodium_memzero(inner.data(), inner.size());
    return out;
}

void hkdf2(std::span<const uint8_t> chaining_key, std::span<const uint8_t> ikm, Hash64& out1, Hash64& out2) {
    Hash64 temp = hmac(chaining_key, ikm);
    const uint8_t one = 0x01;
    out1 = hmac(temp, {&one, 1});
    uint8_t buf[kHashLen + 1];
    std::memcpy(buf, out1.data(), kHashLen);
    buf[kHashLen] = 0x02;
    out2 = hmac(temp, buf);
    sodium_memzero(temp.data(), temp.size());
    sodium_memzero(buf, sizeof buf);
}

void aead_encrypt(const uint8_t key[32], uint64_t n, std::span<const uint8_t> ad,
                  std::span<const uint8_t> plaintext, uint8_t* out) {
    uint8_t nonce[12];
    nonce_bytes(n, nonce);
    unsigned long long len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &len, plaintext.data(), plaintext.size(), ad.data(), ad.size(),
                                              nullptr, nonce, key);
}

bool aead_decrypt(const uint8_t key[32], uint64_t n, std::span<const uint8_t> ad,
                  std::span<const uint8_t> ciphertext, uint8_t* out) {
    if (ciphertext.size() < kTagLen) return false;
    uint8_t nonce[12];
    nonce_bytes(n, nonce);
    unsigned long long len = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, &len, nullptr, ciphertext.data(), ciphertext.size(),
                                                     ad.data(), ad.size(), nonce, key) == 0;
}

void rekey(SecretBytes<32>& key) {
    uint8_t zeros[32] = {};
    uint8_t out[32 + kTagLen];
    aead_encrypt(key.data(), UINT64_MAX, {}, zeros, out);
    std::memcpy(key.data(), out, 32);
    sodium_memzero(out, sizeof out);
}

void CipherState::set_key(std::span<const uint8_t> k) {
    std::memcpy(k_.data(), k.data(), kKeyLen);
    n_ = 0;
    has_key_ = true;
}

void CipherState::encrypt_with_ad(std::span<const uint8_t> ad, std::span<const uint8_t> pt, std::vector<uint8_t>& out) {
    size_t at = out.size();
    if (!has_key_) {
        out.insert(out.end(), pt.begin(), pt.end());
        return;
    }
    out.resize(at + pt.size() + kTagLen);
    aead_encrypt(k_.data(), n_++, ad, pt, out.data() + at);
}

bool CipherState::decrypt_with_ad(std::span<const uint8_t> ad, std::span<const uint8_t> ct, std::vector<uint8_t>& out) {
    size_t at = out.size();
    if (!has_key_) {
        out.insert(out.end(), ct.begin(), ct.end());
        return true;
    }
    if (ct.size() < kTagLen) return false;
    out.resize(at + ct.size() - kTagLen);
    if (!aead_decrypt(k_.data(), n_, ad, ct, out.data() + at)) {
        out.resize(at);
        return false;
    }
    ++n_;
    return true;
}

SymmetricState::SymmetricState() {
    // The name is shorter than HASHLEN: h is the name padded with zeros.
    static_assert(sizeof kProtocolName - 1 <= kHashLen);
    std::memcpy(h_.data(), kProtocolName, sizeof kProtocolName - 1);
    ck_ = h_;
}

SymmetricState::~SymmetricState() {
    sodium_memzero(ck_.data(), ck_.size());
    sodium_memzero(h_.data(), h_.size());
}

void SymmetricState::mix_hash(std::span<const uint8_t> data) { h_ = hash_two(h_, data); }

void SymmetricState::mix_key(std::span<const uint8_t> ikm) {
    Hash64 temp_k;
    hkdf2(ck_, ikm, ck_, temp_k);
    cipher_.set_key(std::span{temp_k}.first(kKeyLen));
    sodium_memzero(temp_k.data(), temp_k.size());
}

void SymmetricState::encrypt_and_hash(std::span<const uint8_t> pt, std::vector<uint8_t>& out) {
    size_t at = out.size();
    cipher_.encrypt_with_ad(h_, pt, out);
    mix_hash(std::span{out}.subspan(at));
}

bool SymmetricState::decrypt_and_hash(std::span<const uint8_t> ct, std::vector<uint8_t>& out) {
    if (!cipher_.decrypt_with_ad(h_, ct, out)) return false;
    mix_hash(ct);
    return true;
}

void SymmetricState::split(SecretBytes<32>& first, SecretBytes<32>& second) {
    Hash64 t1, t2;
    hkdf2(ck_, {}, t1, t2);
    std::memcpy(first.data(), t1.data(), kKeyLen);
    std::memcpy(second.data(), t2.data(), kKeyLen);
    sodium_memzero(t1.data(), t1.size());
    sodium_memzero(t2.data(), t2.size());
    sodium_memzero(ck_.data(), ck_.size());
}

HandshakeIK::HandshakeIK(bool initiator, const KeyPair& s, std::span<const uint8_t> prologue)
    : initiator_{initiator}, s_{s} {
    ss_.mix_hash(prologue);
}

HandshakeIK HandshakeIK::initiator(const KeyPair& s, const Bytes32& rs, std::span<const uint8_t> prologue) {
    HandshakeIK hs{true, s, prologue};
    hs.rs_ = rs;
    hs.ss_.mix_hash(rs);
    return hs;
}

HandshakeIK HandshakeIK::responder(const KeyPair& s, std::span<const uint8_t> prologue) {
    HandshakeIK hs{false, s, prologue};
    hs.ss_.mix_hash(s.pub);
    return hs;
}

bool HandshakeIK::dh_mix(const SecretBytes<32>& secret, const Bytes32& pub) {
    uint8_t shared[kDhLen];
    // crypto_scalarmult fails on an all-zero result (a small-order public key).
    if (crypto_scalarmult(shared, secret.data(), pub.data()) != 0) return false;
    ss_.mix_key(shared);
    sodium_memzero(shared, sizeof shared);
    return true;
}

bool HandshakeIK::ss_mix() {
    if (!static_dh_) return dh_mix(s_.secret, rs_);
    uint8_t shared[kDhLen];
    if (!static_dh_(rs_, shared)) return false;
    ss_.mix_key(shared);
    sodium_memzero(shared, sizeof shared);
    return true;
}

base::Result<std::vector<uint8_t>> HandshakeIK::write_message(std::span<const uint8_t> payload, base::Rng& rng) {
    if (failed_) return fail("handshake already failed");
    bool my_turn = initiator_ ? step_ == 0 : step_ == 1;
    if (!my_turn) return base::Status{base::Errc::invalid_argument, "not this side's turn to write"};
    e_ = fixed_e_ ? KeyPair::from_secret(fixed_e_->secret.view()) : KeyPair::generate(rng);
    std::vector<uint8_t> out;
    out.reserve(kMessage1Overhead + payload.size());
    out.insert(out.end(), e_->pub.begin(), e_->pub.end());
    ss_.mix_hash(e_->pub);
    bool ok;
    if (initiator_) {
        ok = dh_mix(e_->secret, rs_);                 // es
        if (ok) ss_.encrypt_and_hash(s_.pub, out);    // s
        ok = ok && ss_mix();                          // ss
    } else {
        ok = dh_mix(e_->secret, re_) && dh_mix(e_->secret, rs_);  // ee, se
    }
    if (!ok) {
        failed_ = true;
        return fail("key agreement with a small-order key");
    }
    ss_.encrypt_and_hash(payload, out);
    ++step_;
    if (!initiator_) e_.reset();  // the initiator still needs e for message 2
    return out;
}

base::Result<std::vector<uint8_t>> HandshakeIK::read_message(std::span<const uint8_t> m) {
    if (failed_) return fail("handshake already failed");
    bool my_turn = initiator_ ? step_ == 1 : step_ == 0;
    if (!my_turn) return base::Status{base::Errc::invalid_argument, "not this side's turn to read"};
    size_t need = initiator_ ? kMessage2Overhead : kMessage1Overhead;
    if (m.size() < need) return malformed("handshake message too short");
    failed_ = true;  // until proven otherwise
    std::memcpy(re_.data(), m.data(), kDhLen);
    ss_.mix_hash(re_);
    std::vector<uint8_t> payload;
    size_t at = kDhLen;
    if (!initiator_) {
        if (!dh_mix(s_.secret, re_)) return fail("small-order ephemeral key");  // es
        std::vector<uint8_t> rs;
        if (!ss_.decrypt_and_hash(m.subspan(at, kDhLen + kTagLen), rs)) return fail("cannot decrypt the static key");
        std::memcpy(rs_.data(), rs.data(), kDhLen);
        at += kDhLen + kTagLen;
        if (!ss_mix()) return fail("small-order static key");  // ss
    } else {
        if (!dh_mix(e_->secret, re_) || !dh_mix(s_.secret, re_)) return fail("small-order ephemeral key");  // ee, se
    }
    if (!ss_.decrypt_and_hash(m.subspan(at), payload)) return fail("cannot decrypt the payload");
    failed_ = false;
    ++step_;
    if (initiator_) e_.reset();
    return payload;
}

TransportKeys HandshakeIK::split() {
    TransportKeys k;
    k.handshake_hash = ss_.handshake_hash();
    if (initiator_) {
        ss_.split(k.send, k.recv);
    } else {
        ss_.split(k.recv, k.send);
    }
    e_.reset();
    return k;
}

}  // namespace crypto::noise
