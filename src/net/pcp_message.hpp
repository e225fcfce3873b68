#pragma once
// PCP (Port Control Protocol, RFC 6887) MAP requests and their answers, as bytes: sans-I/O, so the
// codec is tested without a router. net::PortMapClient does the exchange (PROTOCOL.md §19).
//
// Only what a peer-to-peer node needs: MAP of one UDP or TCP port, its renewal (the same nonce),
// and its deletion (lifetime 0). No options (THIRD_PARTY, PREFER_FAILURE, FILTER), no PEER opcode.
// A NAT-PMP-only router answers a PCP request with a version-0 "unsupported version" (RFC 6887
// §9, RFC 6886 §3.5); parse_map_response says so, and the client falls back to NAT-PMP.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "base/endpoint.hpp"
#include "base/status.hpp"

namespace net::pcp {

inline constexpr uint16_t kServerPort = 5351;
inline constexpr uint8_t kVersion = 2;
inline constexpr uint8_t kOpMap = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr size_t kMapSize = 60;  // 24-byte header + 36-byte MAP payload, both ways

using Nonce = std::array<uint8_t, 12>;

struct MapRequest {
    base::Endpoint client;          // our address as the router sees it (the socket's source)
    uint8_t protocol = kProtoUdp;
    uint16_t internal_port = 0;
    uint16_t suggested_port = 0;    // 0: any
    uint32_t lifetime_s = 0;        // 0 deletes the mapping
    Nonce nonce{};                  // the same for renewals and the deletion of one mapping
};

std::vector<uint8_t> encode_map(const MapRequest& req);

// RFC 6887 §7.4 result codes (the ones a client acts on are named).
enum class Result : uint8_t {
    success = 0,
    unsupp_version = 1,
    not_authorized = 2,
    malformed_request = 3,
    unsupp_opcode = 4,
    no_resources = 8,
    cannot_provide_external = 11,
    address_mismatch = 12,
};
const char* result_name(uint8_t code);

struct MapResponse {
    uint8_t result = 0;        // Result; other values are the router's (printed as numbers)
    uint32_t lifetime_s = 0;   // granted (or, on an error, how long the error holds)
    uint32_t epoch_s = 0;      // the router's epoch: it went back, so the router lost its mappings
    uint8_t protocol = 0;
    uint16_t internal_port = 0;
    base::Endpoint external;   // assigned external address and port (on success)
    bool natpmp_only = false;  // a version-0 answer: the router speaks NAT-PMP, not PCP
};

// Parses an answer to `req`. Errors: too short, not an answer, another opcode, a nonce, protocol or
// port that is not ours (an answer to someone else's request, or forged: ignore it and keep
// waiting). A well-formed answer with an error result is a MapResponse with `result` set.
base::Result<MapResponse> parse_map_response(std::span<const uint8_t> bytes, const MapRequest& req);

}  // namespace net::pcp
