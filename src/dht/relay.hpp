#pragma once
// Relaying for clients (PROTOCOL.md §17), sans-I/O: the circuits a reachable node keeps between
// two DHT members that cannot reach each other directly, their limits, and the forwarding of
// their datagrams. A circuit exists only because its target reserved this relay (its announce
// asked for it) and then accepted the circuit; each end knows only its own 64-bit circuit id,
// which this node sent to the endpoint it then forwards to, so every forwarded datagram goes to
// an endpoint that proved it receives there, and is exactly as large as the one that came in:
// no amplification, and no one reached who did not ask. The relay forwards opaque bytes (session
// messages, end-to-end encrypted); it sees who talks to whom, never what they say.
// (The shape of libp2p's circuit relay v2 and Tox's TCP relays; the limits are ours, §17.4.)
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/endpoint.hpp"
#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "dht/node_id.hpp"

namespace dht {

// Relay datagrams: type | kind | circuit (8, big-endian) | payload.
inline constexpr uint8_t kRelayType = 0x06;
inline constexpr size_t kRelayHeader = 10;
enum class RelayKind : uint8_t { data = 1, close = 2 };

struct RelayFrame {
    RelayKind kind = RelayKind::data;
    uint64_t circuit = 0;
    std::span<const uint8_t> payload;  // data: the end's bytes; close: the reason (ASCII)
};
std::vector<uint8_t> relay_frame(RelayKind kind, uint64_t circuit, std::span<const uint8_t> payload);
std::optional<RelayFrame> parse_relay_frame(std::span<const uint8_t> datagram);

// Defaults sized for chat: a conversation's text, and a burst of queued messages, pass easily;
// a bulk transfer does not (libp2p's 2 minutes and 128 KiB per circuit do not carry a chat).
struct RelayLimits {
    size_t circuits = 128;                                // at once, in all
    size_t per_node = 8;                                  // circuits that involve one node
    uint64_t rate = 32 * 1024;                            // bytes per second per circuit (both ways)
    uint64_t burst = 256 * 1024;                          // the rate's bucket
    uint64_t bytes = 64ull << 20;                         // per circuit over its life
    base::Duration lifetime = std::chrono::hours(2);      // then closed: the ends open another
    base::Duration confirm = std::chrono::seconds(5);     // for the target to accept
};
// "circuits=128,rate=32768,bytes=67108864,lifetime=7200" (any subset; seconds, bytes).
base::Result<RelayLimits> parse_relay_limits(std::string_view text, RelayLimits base = {});
std::string to_string(const RelayLimits& l);

struct RelayOut {
    base::Endpoint to;
    std::vector<uint8_t> bytes;
};

class Relay {
public:
    Relay(RelayLimits limits, base::Rng& rng) : limits_{limits}, rng_{rng} {}

    struct Opened {
        uint64_t asker_circuit = 0, target_circuit = 0;
    };
    // A new circuit from `asker` (at `asker_ep`) to `target` (at `target_ep`), waiting for the
    // target to accept; nothing is forwarded before confirm().
    base::Result<Opened> open(const NodeId& asker, const base::Endpoint& asker_ep, const NodeId& target,
                              const base::Endpoint& target_ep, base::TimePoint now);
    void confirm(uint64_t target_circuit, base::TimePoint now);
    void abandon(uint64_t target_circuit);
    // A datagram whose first byte is kRelayType: what to send (the forwarded datagram, or close
    // notices). Anything else is dropped and counted.
    std::vector<RelayOut> on_datagram(const base::Endpoint& from, std::span<const uint8_t> datagram, base::TimePoint now);
    // Closes circuits past their lifetime (or never accepted); `next` gets the next deadline.
    std::vector<RelayOut> tick(base::TimePoint now, base::TimePoint& next);
    // Closes every circuit of `node` (its reservation ended).
    std::vector<RelayOut> close_node(const NodeId& node, const std::string& why);

    struct CircuitInfo {
        NodeId asker, target;
        base::Endpoint asker_ep, target_ep;
        bool confirmed = false;
        base::Duration age{};
        uint64_t bytes = 0, datagrams = 0, dropped = 0;
    };
    std::vector<CircuitInfo> circuits(base::TimePoint now) const;
    size_t size() const { return circuits_.size(); }
    const RelayLimits& limits() const { return limits_; }

    struct Stats {
        uint64_t opened = 0, refused = 0, forwarded = 0, forwarded_bytes = 0;
        uint64_t dropped_unknown = 0, dropped_spoofed = 0, dropped_rate = 0, dropped_malformed = 0;
        uint64_t closed_bytes = 0, closed_lifetime = 0, closed_by_end = 0, closed_unconfirmed = 0, closed_node = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Circuit {
        NodeId asker, target;
        base::Endpoint asker_ep, target_ep;
        uint64_t asker_id = 0, target_id = 0;
        base::TimePoint opened{}, tokens_at{};
        double tokens = 0;
        uint64_t bytes = 0, datagrams = 0, dropped = 0;
        bool confirmed = false;
    };
    uint64_t fresh_id();
    // Close notices to both ends, and the circuit forgotten.
    void close(uint64_t key, const std::string& why, std::vector<RelayOut>& out, const base::Endpoint* skip = nullptr);

    RelayLimits limits_;
    base::Rng& rng_;
    std::map<uint64_t, Circuit> circuits_;  // by the target's circuit id
    std::map<uint64_t, uint64_t> by_id_;    // either end's id -> the target's id
    Stats stats_;
};

}  // namespace dht
