#pragma once
// What travels inside a session's data frames: one JSON object whose "t" names its type
// (PROTOCOL.md §12.7). So far: "ping" and "pong", an application-level echo that `kadchat ctl
// ping` uses to check a session end to end; the chat messages will join them.
#include <cstdint>
#include <span>
#include <string>

#include "base/status.hpp"

namespace chat {

enum class PayloadType { ping, pong };

struct Payload {
    PayloadType type = PayloadType::ping;
    uint64_t n = 0;  // ping/pong: sequence number, echoed
};

// Decodes with simdjson (the hot path); Errc::malformed names what is wrong, and an unknown "t"
// is Errc::not_found so that newer peers' types can be skipped, not treated as attacks.
class PayloadDecoder {
public:
    PayloadDecoder();
    ~PayloadDecoder();
    base::Result<Payload> decode(std::span<const uint8_t> bytes);

private:
    struct Impl;
    Impl* impl_;
};

std::string encode(const Payload& p);

}  // namespace chat
