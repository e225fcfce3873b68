#pragma once
// What travels inside a session's data frames: one JSON object whose "t" names its type
// (PROTOCOL.md §12.7): "ping"/"pong", the application-level echo of `kadchat ctl ping`; "msg", a
// sealed envelope (§13) carrying one chat message; "ack", the recipient's receipt for one;
// "hello", which says the sender takes "text"; and "text", one chat message sent in the clear
// inside the session (its Noise keys already authenticate and encrypt it end to end), which
// saves the envelope's two X25519 and Ed25519 operations a message when both sides are live.
// Inside a msg's envelope, the letter body is {"text": ..., "seq": n} (§15), or a receipt,
// {"receipt": [message IDs]}, which a recipient puts in the sender's mailbox for messages it
// took from its own.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "crypto/envelope.hpp"

namespace chat {

enum class PayloadType { ping, pong, msg, ack, hello, text };

struct Payload {
    PayloadType type = PayloadType::ping;
    uint64_t n = 0;                 // ping/pong: sequence number, echoed
    std::vector<uint8_t> envelope;  // msg: the sealed envelope
    crypto::MessageId id{};         // ack: the message received; text: the message's ID
    bool takes_text = false;        // hello: the sender accepts "text" payloads
    bool reply = false;             // hello: answer with a hello of your own
    uint64_t ts_ms = 0, seq = 0;    // text: the sender's timestamp and per-conversation counter
    std::string text;               // text: the message (at most kMaxTextBytes, checked by the messenger)
};

// What a letter's payload holds once the envelope is open.
inline constexpr size_t kMaxReceiptIds = 32;
struct LetterBody {
    std::string text;
    uint64_t seq = 0;  // the sender's per-conversation counter, for ordering
    std::vector<crypto::MessageId> receipt;  // a receipt: these messages reached the letter's writer
};

// Decodes with simdjson (the hot path); Errc::malformed names what is wrong, and an unknown "t"
// is Errc::not_found so that newer peers' types can be skipped, not treated as attacks.
class PayloadDecoder {
public:
    PayloadDecoder();
    ~PayloadDecoder();
    PayloadDecoder(const PayloadDecoder&) = delete;
    PayloadDecoder& operator=(const PayloadDecoder&) = delete;
    base::Result<Payload> decode(std::span<const uint8_t> bytes);
    base::Result<LetterBody> decode_body(std::span<const uint8_t> bytes);

private:
    struct Impl;
    Impl* impl_;
};

std::string encode(const Payload& p);
std::string encode(const LetterBody& b);

}  // namespace chat
