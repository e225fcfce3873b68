#pragma once
// Transport frames after the handshake: ChaCha20-Poly1305 under the split() keys, one counter per
// direction used as the nonce. The counter travels in the clear (8 bytes) so the same frames work
// on a stream (TCP: every frame must carry exactly the next counter) and on datagrams (UDP, a
// relay: a 1,024-frame sliding window rejects replays and tolerates reordering).
//
// Rekeying without extra messages: the key for counter c is the key of epoch c >> 20, and each
// epoch's key is Noise's REKEY of the one before (one-way, so an old key cannot be recovered from
// a new one). A sender moves to the next epoch after 2^20 frames, or after two minutes by jumping
// its counter to the next epoch's first value; the receiver ratchets when a frame of the next
// epoch authenticates.
#include <bitset>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "base/time.hpp"
#include "crypto/noise.hpp"

namespace crypto {

inline constexpr size_t kFrameHeader = 1 + 8;           // type, counter
inline constexpr size_t kFrameOverhead = kFrameHeader + noise::kTagLen + 1;  // + tag + inner type
inline constexpr size_t kMaxMessage = 65535;             // a stream length prefix is 16 bits
inline constexpr size_t kMaxFrameBody = kMaxMessage - kFrameOverhead;  // 65,509

class TransportCipher {
public:
    enum class Mode { stream, datagram };
    static constexpr int kEpochBits = 20;
    static constexpr base::Duration kRekeyAfter = std::chrono::minutes(2);
    static constexpr uint64_t kWindow = 1024;

    TransportCipher(noise::TransportKeys keys, Mode mode, base::TimePoint now);

    // Appends one transport message: header, then inner type and body sealed.
    // REQUIRES: body.size() <= kMaxFrameBody.
    void seal(uint8_t inner_type, std::span<const uint8_t> body, base::TimePoint now, std::vector<uint8_t>& out);

    struct Opened {
        uint8_t inner_type;
        std::span<const uint8_t> body;  // inside `plain`, after the inner type byte
    };
    // Decrypts into `plain` (inner type, then body). Errc::crypto: does not authenticate
    // (tampered, wrong key, truncated tag); Errc::malformed: too short, wrong type;
    // Errc::exists: replayed or (on a stream) out of order.
    base::Result<Opened> open(std::span<const uint8_t> msg, std::vector<uint8_t>& plain);

    uint64_t sent_frames() const { return sent_; }
    uint64_t send_epoch() const { return send_epoch_; }
    uint64_t recv_epoch() const { return recv_epoch_; }

private:
    bool try_open(const SecretBytes<32>& key, uint64_t counter, std::span<const uint8_t> msg,
                  std::vector<uint8_t>& plain);
    bool window_seen(uint64_t counter) const;
    void window_mark(uint64_t counter);

    Mode mode_;
    SecretBytes<32> send_key_, recv_key_, prev_recv_key_;
    bool have_prev_ = false;
    uint64_t send_counter_ = 0, send_epoch_ = 0;
    base::TimePoint epoch_started_;
    uint64_t recv_epoch_ = 0;
    uint64_t expected_ = 0;           // stream: next counter
    uint64_t highest_ = 0;            // datagram: highest counter accepted + 1 (0 = none yet)
    std::bitset<kWindow> seen_;       // datagram: bit (c % kWindow) for c in (highest_-kWindow, highest_]
    uint64_t sent_ = 0;
};

}  // namespace crypto
