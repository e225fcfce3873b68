#pragma once
// Reliable, ordered messages over a datagram session (a punched UDP path; a relay later), sans-I/O.
// A message is cut into segments that each fit one datagram of at most 1,200 bytes (no IP
// fragmentation); each segment is one data frame of the session. The receiver acknowledges
// cumulatively with a 64-segment selective bitmap; the sender keeps a window of segments in
// flight and retransmits on a timeout derived from the measured RTT (RFC 6298) or after three
// later segments were acknowledged (fast retransmit). Bytes: PROTOCOL.md §12.8.
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "base/time.hpp"

namespace session {

inline constexpr size_t kMaxDatagram = 1200;  // bytes of UDP payload on a punched path
// A session datagram: type (1), counter (8), inner type (1), body, tag (16).
inline constexpr size_t kSessionDatagramOverhead = 26;
inline constexpr size_t kSegmentHeader = 1 + 4 + 1;  // kind, sequence number, flags
// Room for a relay's header (PROTOCOL.md §17.3), so that a relayed datagram fits too.
inline constexpr size_t kRelayHeaderRoom = 10;
inline constexpr size_t kMaxSegmentData =
    kMaxDatagram - kRelayHeaderRoom - kSessionDatagramOverhead - kSegmentHeader;  // 1,158

struct ReliableConfig {
    size_t window = 64;  // segments in flight
    base::Duration rto_initial = std::chrono::milliseconds(500);
    base::Duration rto_min = std::chrono::milliseconds(100);
    base::Duration rto_max = std::chrono::seconds(8);
    uint32_t initial_seq = 0;  // both ends start here (tests move it near the wrap-around)
};

class ReliableChannel {
public:
    ReliableChannel(const ReliableConfig& cfg, base::TimePoint now);

    // Queues a message (any size); its segments leave as the window allows.
    void send(std::span<const uint8_t> message, base::TimePoint now);
    // One segment (or acknowledgement) from the peer. Complete messages, in order, are appended
    // to `delivered`. A malformed segment is dropped and counted.
    void on_segment(std::span<const uint8_t> segment, base::TimePoint now,
                    std::vector<std::vector<uint8_t>>& delivered);
    // Retransmissions that fell due; returns the next deadline.
    base::TimePoint tick(base::TimePoint now);
    // Segments and acknowledgements to send now, each one session data frame.
    std::vector<std::vector<uint8_t>> take_output() { return std::exchange(out_, {}); }

    size_t queued_bytes() const { return queued_bytes_; }  // unacknowledged or not yet sent
    // The messages not yet acknowledged in full, oldest first: when this channel's session is
    // replaced by one on another path, they go again there (the receiver may see one twice).
    std::vector<std::vector<uint8_t>> take_unacknowledged();
    base::Duration rto() const { return rto_; }
    // A segment sent `limit` times and due again without an acknowledgement: the path is gone
    // (a relay died, a NAT mapping expired), long before the session's dead-peer timer says so.
    bool stalled(uint8_t limit, base::TimePoint now) const {
        for (auto& [seq, o] : flight_)
            if (o.transmissions >= limit && now >= o.due) return true;
        return false;
    }

    struct Stats {
        uint64_t segments_sent = 0, retransmits = 0, fast_retransmits = 0, acks_sent = 0;
        uint64_t segments_received = 0, duplicates = 0, malformed = 0, messages_delivered = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Outgoing {
        std::vector<uint8_t> bytes;  // the whole segment, header included
        base::TimePoint sent{};
        base::TimePoint due{};
        uint8_t transmissions = 0;
        uint8_t later_acked = 0;  // acknowledgements of later segments since it was sent
    };
    void fill_window(base::TimePoint now);
    void transmit(uint32_t seq, Outgoing& o, base::TimePoint now);
    void on_ack(uint32_t next, uint64_t sack, base::TimePoint now);
    void acknowledged(uint32_t seq, base::TimePoint now);
    void send_ack();
    void rtt_sample(base::Duration r);

    ReliableConfig cfg_;
    // Sender.
    uint32_t next_seq_ = 0;                 // of the next new segment
    std::deque<std::vector<uint8_t>> waiting_;  // segments not yet sent (window full)
    std::map<uint32_t, Outgoing> flight_;   // sent and not acknowledged, by sequence number
    struct Message {
        uint32_t end;  // offset (from initial_seq) one past its last segment
        std::vector<uint8_t> payload;
    };
    std::deque<Message> unacked_;           // kept until the cumulative ack passes them
    uint32_t queued_segments_ = 0;          // segments ever queued (an offset from initial_seq)
    size_t queued_bytes_ = 0;
    base::Duration srtt_{0}, rttvar_{0}, rto_;
    // Receiver.
    uint32_t expected_ = 0;                 // next in-order sequence number
    std::map<uint32_t, std::vector<uint8_t>> early_;  // received out of order: seq -> segment
    std::vector<uint8_t> assembling_;       // the message whose first segments have arrived
    bool in_message_ = false;
    std::vector<std::vector<uint8_t>> out_;
    Stats stats_;
};

}  // namespace session
