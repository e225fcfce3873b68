#include "crypto/handshake.hpp"

#include <sodium.h>

#include <cstring>

namespace crypto {

namespace {

std::span<const uint8_t> prologue() {
    return {reinterpret_cast<const uint8_t*>(kSessionPrologue), sizeof kSessionPrologue - 1};
}

noise::Bytes32 derive(const char* label, const noise::Bytes32& pub) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, 32);
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(label), std::strlen(label));
    crypto_generichash_update(&st, pub.data(), pub.size());
    noise::Bytes32 out;
    crypto_generichash_final(&st, out.data(), out.size());
    return out;
}

Cookie mac16(std::span<const uint8_t> key, std::span<const uint8_t> data) {
    Cookie out;
    crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
    return out;
}

void put_u64be(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t get_u64be(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

}  // namespace

noise::Bytes32 mac1_key_for(const noise::Bytes32& x25519_public) { return derive("kadchat mac1 v1", x25519_public); }
noise::Bytes32 cookie_key_for(const noise::Bytes32& x25519_public) { return derive("kadchat cookie v1", x25519_public); }

bool StaticDhCache::get(const noise::Bytes32& peer, uint8_t out[32]) {
    for (auto& e : entries_) {
        if (e.peer == peer) {
            e.used = ++clock_;
            std::memcpy(out, e.shared.data(), 32);
            return true;
        }
    }
    if (crypto_scalarmult(out, statik_.secret.data(), peer.data()) != 0) return false;
    ++computed_;
    size_t slot = entries_.size();
    if (entries_.size() >= capacity_) {
        slot = 0;
        for (size_t i = 1; i < entries_.size(); ++i)
            if (entries_[i].used < entries_[slot].used) slot = i;
    } else {
        entries_.push_back({});
    }
    entries_[slot].peer = peer;
    std::memcpy(entries_[slot].shared.data(), out, 32);
    entries_[slot].used = ++clock_;
    return true;
}

SessionKeys::SessionKeys(const Identity& id) : identity{id}, statik{noise::static_keys_of(id)} {
    mac1_key = mac1_key_for(statik.pub);
    cookie_key = cookie_key_for(statik.pub);
}

CookieJar::CookieJar(base::Rng& rng, base::TimePoint now) : rng_{rng} {
    rotate(now);
    rotate(now);
}

void CookieJar::rotate(base::TimePoint now) {
    std::memcpy(previous_.data(), current_.data(), 32);
    rng_.fill(std::as_writable_bytes(std::span{current_.data(), 32}));
    rotated_ = now;
}

void CookieJar::catch_up(base::TimePoint now) {
    // After two idle rotations neither old secret may survive.
    if (now - rotated_ >= 2 * kRotation) rotate(now);
    if (now - rotated_ >= kRotation || rotated_ == now) rotate(now);
}

Cookie CookieJar::cookie_for(std::span<const uint8_t> source, base::TimePoint now) {
    catch_up(now);
    return mac16(std::span{current_.data(), 32}, source);
}

bool CookieJar::valid_mac2(std::span<const uint8_t> msg_before_mac2, std::span<const uint8_t> mac2,
                           std::span<const uint8_t> source, base::TimePoint now) {
    catch_up(now);
    for (const auto* secret : {&current_, &previous_}) {
        Cookie c = mac16(std::span{secret->data(), 32}, source);
        Cookie m = mac16(c, msg_before_mac2);
        bool ok = sodium_memcmp(m.data(), mac2.data(), m.size()) == 0;
        sodium_memzero(c.data(), c.size());
        if (ok) return true;
    }
    return false;
}

InitiatorHandshake::InitiatorHandshake(const SessionKeys& me, const PublicKey& peer, const noise::Bytes32& peer_x)
    : me_{&me}, peer_{peer}, peer_x_{peer_x} {}

base::Result<InitiatorHandshake> InitiatorHandshake::create(const SessionKeys& me, const PublicKey& peer) {
    auto x = noise::static_public_of(peer);
    if (!x) return base::Status{base::Errc::invalid_argument, "the peer's key is not a valid public key"};
    if (peer == me.identity.public_key) return base::Status{base::Errc::invalid_argument, "cannot open a session to ourselves"};
    return InitiatorHandshake{me, peer, *x};
}

base::Result<std::vector<uint8_t>> InitiatorHandshake::init_message(std::span<const uint8_t> payload,
                                                                    uint64_t timestamp_ms, base::Rng& rng,
                                                                    base::TimePoint now) {
    hs_.emplace(noise::HandshakeIK::initiator(me_->statik, peer_x_, prologue()));
    hs_->set_static_dh(me_->static_dh_fn());
    std::vector<uint8_t> inner;
    inner.reserve(40 + payload.size());
    inner.insert(inner.end(), me_->identity.public_key.begin(), me_->identity.public_key.end());
    put_u64be(inner, timestamp_ms);
    inner.insert(inner.end(), payload.begin(), payload.end());
    auto body = hs_->write_message(inner, rng);
    sodium_memzero(inner.data(), inner.size());
    if (!body) return body.status();
    std::vector<uint8_t> msg;
    msg.reserve(1 + body->size() + 2 * kCookieMacSize);
    msg.push_back(static_cast<uint8_t>(SessionMsg::init));
    msg.insert(msg.end(), body->begin(), body->end());
    last_mac1_ = mac16(mac1_key_for(peer_x_), msg);
    msg.insert(msg.end(), last_mac1_.begin(), last_mac1_.end());
    if (cookie_ && now - cookie_at_ < CookieJar::kRotation) {
        Cookie mac2 = mac16(*cookie_, msg);
        msg.insert(msg.end(), mac2.begin(), mac2.end());
    } else {
        msg.insert(msg.end(), kCookieMacSize, 0);
    }
    return msg;
}

base::Status InitiatorHandshake::on_cookie_reply(std::span<const uint8_t> msg, base::TimePoint now) {
    if (msg.size() != kCookieReplySize || msg[0] != static_cast<uint8_t>(SessionMsg::cookie))
        return base::Status{base::Errc::malformed, "bad cookie reply"};
    auto key = cookie_key_for(peer_x_);
    Cookie c;
    unsigned long long len = 0;
    // AD = our last mac1: a cookie reply is good for the init it answers only.
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(c.data(), &len, nullptr, msg.data() + 25, kCookieMacSize + 16,
                                                   last_mac1_.data(), last_mac1_.size(), msg.data() + 1,
                                                   key.data()) != 0)
        return base::Status{base::Errc::crypto, "cookie reply does not decrypt"};
    cookie_ = c;
    cookie_at_ = now;
    return {};
}

base::Result<InitiatorHandshake::Done> InitiatorHandshake::on_response(std::span<const uint8_t> msg) {
    if (!hs_) return base::Status{base::Errc::invalid_argument, "no init outstanding"};
    if (msg.size() < kResponseFixed || msg[0] != static_cast<uint8_t>(SessionMsg::response))
        return base::Status{base::Errc::malformed, "bad handshake response"};
    auto payload = hs_->read_message(msg.subspan(1));
    if (!payload) return payload.status();
    Done d{hs_->split(), std::move(*payload)};
    hs_.reset();
    return d;
}

InitResult accept_init(const SessionKeys& me, std::span<const uint8_t> msg, std::span<const uint8_t> source,
                       bool under_load, CookieJar& jar, base::Rng& rng, base::TimePoint now) {
    InitResult r;
    if (msg.size() < kInitFixed || msg[0] != static_cast<uint8_t>(SessionMsg::init)) {
        r.why = base::Status{base::Errc::malformed, "bad handshake init"};
        return r;
    }
    size_t mac1_at = msg.size() - 2 * kCookieMacSize, mac2_at = msg.size() - kCookieMacSize;
    Cookie mac1 = mac16(me.mac1_key, msg.first(mac1_at));
    if (sodium_memcmp(mac1.data(), msg.data() + mac1_at, kCookieMacSize) != 0) {
        r.why = base::Status{base::Errc::crypto, "init with a bad mac1"};
        return r;
    }
    if (under_load && !jar.valid_mac2(msg.first(mac2_at), msg.subspan(mac2_at), source, now)) {
        // Prove you receive at `source` first: encrypt a cookie for it, bound to this mac1.
        Cookie c = jar.cookie_for(source, now);
        r.reply.resize(kCookieReplySize);
        r.reply[0] = static_cast<uint8_t>(SessionMsg::cookie);
        rng.fill(std::as_writable_bytes(std::span{r.reply.data() + 1, 24}));
        unsigned long long len = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(r.reply.data() + 25, &len, c.data(), c.size(), mac1.data(),
                                                   mac1.size(), nullptr, r.reply.data() + 1, me.cookie_key.data());
        sodium_memzero(c.data(), c.size());
        r.verdict = InitVerdict::cookie;
        return r;
    }
    auto hs = noise::HandshakeIK::responder(me.statik, prologue());
    hs.set_static_dh(me.static_dh_fn());
    auto inner = hs.read_message(msg.subspan(1, mac1_at - 1));
    if (!inner) {
        r.why = inner.status();
        return r;
    }
    if (inner->size() < 40) {
        r.why = base::Status{base::Errc::malformed, "init payload too short"};
        return r;
    }
    std::memcpy(r.init.peer.data(), inner->data(), 32);
    // The Ed25519 identity must be the one whose X25519 form just proved itself in `ss`.
    auto x = noise::static_public_of(r.init.peer);
    if (!x || *x != hs.remote_static()) {
        r.why = base::Status{base::Errc::crypto, "init identity does not match its static key"};
        return r;
    }
    if (r.init.peer == me.identity.public_key) {
        r.why = base::Status{base::Errc::crypto, "init from our own identity"};
        return r;
    }
    r.init.timestamp_ms = get_u64be(inner->data() + 32);
    r.init.payload.assign(inner->begin() + 40, inner->end());
    sodium_memzero(inner->data(), inner->size());
    r.init.hs.emplace(std::move(hs));
    r.verdict = InitVerdict::accepted;
    return r;
}

base::Result<std::vector<uint8_t>> write_response(AcceptedInit& init, std::span<const uint8_t> payload,
                                                  base::Rng& rng, noise::TransportKeys& keys) {
    auto body = init.hs->write_message(payload, rng);
    if (!body) return body.status();
    std::vector<uint8_t> msg;
    msg.reserve(1 + body->size());
    msg.push_back(static_cast<uint8_t>(SessionMsg::response));
    msg.insert(msg.end(), body->begin(), body->end());
    keys = init.hs->split();
    init.hs.reset();
    return msg;
}

}  // namespace crypto
