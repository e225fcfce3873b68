#include "net/pcp_message.hpp"

#include <algorithm>
#include <cstring>

namespace net::pcp {

namespace {

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t get32(std::span<const uint8_t> b, size_t at) {
    return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

// Addresses travel as 16 bytes; IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d (§5).
void put_addr(std::vector<uint8_t>& b, size_t at, const base::Endpoint& e) {
    if (e.is_v6()) {
        std::memcpy(&b[at], e.addr.data(), 16);
        return;
    }
    b[at + 10] = 0xff;
    b[at + 11] = 0xff;
    std::memcpy(&b[at + 12], e.addr.data(), 4);
}
base::Endpoint get_addr(std::span<const uint8_t> b, size_t at, uint16_t port) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    base::Endpoint e;
    e.port = port;
    if (std::memcmp(&b[at], kMapped, 12) == 0) {
        e.family = base::Endpoint::Family::v4;
        std::memcpy(e.addr.data(), &b[at + 12], 4);
    } else {
        e.family = base::Endpoint::Family::v6;
        std::memcpy(e.addr.data(), &b[at], 16);
    }
    return e;
}

}  // namespace

std::vector<uint8_t> encode_map(const MapRequest& req) {
    std::vector<uint8_t> b(kMapSize, 0);
    b[0] = kVersion;
    b[1] = kOpMap;  // R bit clear: a request
    put32(b, 4, req.lifetime_s);
    put_addr(b, 8, req.client);
    std::copy(req.nonce.begin(), req.nonce.end(), b.begin() + 24);
    b[36] = req.protocol;
    put16(b, 40, req.internal_port);
    put16(b, 42, req.suggested_port);
    // Suggested external address: all zeros in the family of our own (§11.1: "any"). For IPv4
    // that is ::ffff:0.0.0.0.
    if (!req.client.is_v6()) {
        b[54] = 0xff;
        b[55] = 0xff;
    }
    return b;
}

const char* result_name(uint8_t code) {
    static constexpr const char* kNames[] = {
        "success",          "unsupported version", "not authorized",      "malformed request",
        "unsupported opcode", "unsupported option", "malformed option",   "network failure",
        "no resources",     "unsupported protocol", "user quota exceeded", "cannot provide external",
        "address mismatch", "excessive remote peers"};
    return code < std::size(kNames) ? kNames[code] : "unknown result";
}

base::Result<MapResponse> parse_map_response(std::span<const uint8_t> b, const MapRequest& req) {
    // A NAT-PMP router answers with its own 8+ byte format: version 0, opcode 128 + ours.
    if (b.size() >= 4 && b[0] == 0 && (b[1] & 0x80)) {
        MapResponse r;
        r.natpmp_only = true;
        r.result = static_cast<uint8_t>(Result::unsupp_version);
        return r;
    }
    if (b.size() < 24) return base::malformed("PCP: answer too short");
    if (b[0] != kVersion) return base::malformed("PCP: answer of version " + std::to_string(b[0]));
    if (!(b[1] & 0x80)) return base::malformed("PCP: a request, not an answer");
    if ((b[1] & 0x7f) != kOpMap) return base::malformed("PCP: an answer to another opcode");
    MapResponse r;
    r.result = b[3];
    r.lifetime_s = get32(b, 4);
    r.epoch_s = get32(b, 8);
    // An error about the request as a whole (version, opcode, malformed) may come without the MAP
    // payload (§7.2: the server copies what it could parse, or nothing).
    if (b.size() < kMapSize) {
        if (r.result == 0) return base::malformed("PCP: success without the MAP payload");
        return r;
    }
    if (!std::equal(req.nonce.begin(), req.nonce.end(), b.begin() + 24))
        return base::malformed("PCP: an answer with another nonce");
    r.protocol = b[36];
    r.internal_port = get16(b, 40);
    if (r.protocol != req.protocol || r.internal_port != req.internal_port)
        return base::malformed("PCP: an answer for another mapping");
    r.external = get_addr(b, 44, get16(b, 42));
    if (r.result == 0 && req.lifetime_s != 0 && r.external.port == 0)
        return base::malformed("PCP: success without an external port");
    return r;
}

}  // namespace net::pcp
