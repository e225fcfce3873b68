#include "crypto/transport.hpp"

#include <sodium.h>

#include <cstring>

#include "crypto/handshake.hpp"

namespace crypto {

namespace {
void put_u64le(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_u64le(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}
}  // namespace

TransportCipher::TransportCipher(noise::TransportKeys keys, Mode mode, base::TimePoint now)
    : mode_{mode}, send_key_{std::move(keys.send)}, recv_key_{std::move(keys.recv)}, epoch_started_{now} {}

void TransportCipher::seal(uint8_t inner_type, std::span<const uint8_t> body, base::TimePoint now,
                           std::vector<uint8_t>& out) {
    uint64_t epoch_len = uint64_t{1} << kEpochBits;
    if (now - epoch_started_ >= kRekeyAfter && send_counter_ % epoch_len != 0)
        send_counter_ = (send_counter_ / epoch_len + 1) * epoch_len;
    if ((send_counter_ >> kEpochBits) > send_epoch_) {
        noise::rekey(send_key_);
        ++send_epoch_;
        epoch_started_ = now;
    }
    size_t at = out.size();
    // Appended, not resized and overwritten: the body is written once (a resize would zero it
    // first), and the vector grows geometrically across frames.
    uint8_t head[kFrameHeader + 1];
    head[0] = static_cast<uint8_t>(SessionMsg::transport);
    put_u64le(head + 1, send_counter_);
    head[kFrameHeader] = inner_type;
    out.insert(out.end(), head, head + sizeof head);
    out.insert(out.end(), body.data(), body.data() + body.size());
    out.insert(out.end(), noise::kTagLen, uint8_t{0});
    uint8_t* p = out.data() + at;
    // Seal in place: the inner type and body become the ciphertext, the tag follows.
    uint8_t nonce[12] = {};
    put_u64le(nonce + 4, send_counter_);
    unsigned long long len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(p + kFrameHeader, &len, p + kFrameHeader, 1 + body.size(), p,
                                              kFrameHeader, nullptr, nonce, send_key_.data());
    ++send_counter_;
    ++sent_;
}

bool TransportCipher::try_open(const SecretBytes<32>& key, uint64_t counter, std::span<const uint8_t> msg,
                               std::vector<uint8_t>& plain_) {
    uint8_t nonce[12] = {};
    put_u64le(nonce + 4, counter);
    size_t ct_len = msg.size() - kFrameHeader;
    plain_.resize(ct_len - noise::kTagLen);
    unsigned long long len = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(plain_.data(), &len, nullptr, msg.data() + kFrameHeader, ct_len,
                                                     msg.data(), kFrameHeader, nonce, key.data()) == 0;
}

bool TransportCipher::window_seen(uint64_t c) const {
    if (c >= highest_) return false;
    if (c + kWindow < highest_) return true;  // too old to tell: treat as replayed
    return seen_.test(c % kWindow);
}

void TransportCipher::window_mark(uint64_t c) {
    if (c >= highest_) {
        // Clear the slots between the old top and the new one.
        uint64_t gap = c + 1 - highest_;
        if (gap >= kWindow) {
            seen_.reset();
        } else {
            for (uint64_t i = highest_; i <= c; ++i) seen_.reset(i % kWindow);
        }
        highest_ = c + 1;
    }
    seen_.set(c % kWindow);
}

base::Result<TransportCipher::Opened> TransportCipher::open(std::span<const uint8_t> msg,
                                                            std::vector<uint8_t>& plain_) {
    if (msg.size() < kFrameHeader + 1 + noise::kTagLen)
        return base::Status{base::Errc::malformed, "transport frame too short"};
    if (msg.size() > kMaxMessage) return base::Status{base::Errc::malformed, "transport frame too long"};
    if (msg[0] != static_cast<uint8_t>(SessionMsg::transport))
        return base::Status{base::Errc::malformed, "not a transport frame"};
    uint64_t counter = get_u64le(msg.data() + 1);
    uint64_t epoch = counter >> kEpochBits;
    uint64_t epoch_len = uint64_t{1} << kEpochBits;
    if (mode_ == Mode::stream) {
        bool next = counter == expected_;
        bool jump = counter > expected_ && counter % epoch_len == 0 && epoch == (expected_ >> kEpochBits) + 1;
        if (!next && !jump) return base::Status{base::Errc::exists, "replayed or reordered frame on a stream"};
    } else if (window_seen(counter)) {
        return base::Status{base::Errc::exists, "replayed frame"};
    }
    if (epoch == recv_epoch_) {
        if (!try_open(recv_key_, counter, msg, plain_)) return base::Status{base::Errc::crypto, "frame does not authenticate"};
    } else if (epoch + 1 == recv_epoch_ && have_prev_ && mode_ == Mode::datagram) {
        if (!try_open(prev_recv_key_, counter, msg, plain_))
            return base::Status{base::Errc::crypto, "frame does not authenticate"};
    } else if (epoch == recv_epoch_ + 1) {
        SecretBytes<32> next;
        std::memcpy(next.data(), recv_key_.data(), 32);
        noise::rekey(next);
        if (!try_open(next, counter, msg, plain_)) return base::Status{base::Errc::crypto, "frame does not authenticate"};
        prev_recv_key_ = std::move(recv_key_);
        have_prev_ = true;
        recv_key_ = std::move(next);
        ++recv_epoch_;
    } else {
        return base::Status{base::Errc::crypto, "frame from an unknown key epoch"};
    }
    if (mode_ == Mode::stream) {
        expected_ = counter + 1;
        if (have_prev_) {
            prev_recv_key_.wipe();  // a stream never goes back
            have_prev_ = false;
        }
    } else {
        window_mark(counter);
    }
    return Opened{plain_[0], std::span{plain_}.subspan(1)};
}

}  // namespace crypto
