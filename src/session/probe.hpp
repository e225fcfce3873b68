#pragma once
// Punch probes (PROTOCOL.md §16.7): small UDP datagrams that both peers send to each other's
// candidates during an attempt, from the socket the DHT uses (so from the NAT mapping the
// rendezvous saw). A ping that arrives opens nothing by itself; the pong it earns proves the path
// works both ways. Each probe is authenticated with the attempt's punch key (from the sealed
// offer), so nobody else can fake a working path, and names the attempt by its tag:
//
//   0x05 | kind (1: 1 ping, 2 pong) | tag (8) | sequence (4, big-endian) | mac (16)     30 bytes
//   mac = BLAKE2b-128 keyed with the punch key, over the 14 bytes before it
#include <array>
#include <optional>
#include <span>
#include <vector>

#include "session/offer.hpp"

namespace session {

inline constexpr uint8_t kProbeType = 0x05;
inline constexpr size_t kProbeSize = 30;
using ProbeTag = std::array<uint8_t, 8>;

struct Probe {
    bool pong = false;
    ProbeTag tag{};
    uint32_t seq = 0;
};

ProbeTag tag_of(const crypto::MessageId& nonce);
std::vector<uint8_t> encode_probe(const Probe& p, const PunchKey& key);
// The tag alone, to find the attempt (and its key) a datagram claims to belong to.
std::optional<ProbeTag> probe_tag(std::span<const uint8_t> datagram);
// Checks the length, type and MAC; nullopt if any fails.
std::optional<Probe> decode_probe(std::span<const uint8_t> datagram, const PunchKey& key);

}  // namespace session
