#include "session/reliable.hpp"

#include <algorithm>

namespace session {

namespace {
enum : uint8_t { kData = 0, kAck = 1 };
enum : uint8_t { kFirst = 1, kLast = 2 };

// Sequence numbers wrap: a is before b when the signed distance is negative.
bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

void put32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
}  // namespace

ReliableChannel::ReliableChannel(const ReliableConfig& cfg, base::TimePoint)
    : cfg_{cfg}, next_seq_{cfg.initial_seq}, rto_{cfg.rto_initial}, expected_{cfg.initial_seq} {}

void ReliableChannel::send(std::span<const uint8_t> message, base::TimePoint now) {
    uint32_t segments = static_cast<uint32_t>(std::max<size_t>(1, (message.size() + kMaxSegmentData - 1) / kMaxSegmentData));
    queued_segments_ += segments;
    unacked_.push_back({queued_segments_, std::vector<uint8_t>(message.begin(), message.end())});
    size_t at = 0;
    do {
        size_t n = std::min(kMaxSegmentData, message.size() - at);
        std::vector<uint8_t> seg;
        seg.reserve(kSegmentHeader + n);
        seg.push_back(kData);
        put32(seg, 0);  // the sequence number is set when it enters the window
        uint8_t flags = (at == 0 ? kFirst : 0) | (at + n == message.size() ? kLast : 0);
        seg.push_back(flags);
        seg.insert(seg.end(), message.begin() + static_cast<std::ptrdiff_t>(at),
                   message.begin() + static_cast<std::ptrdiff_t>(at + n));
        queued_bytes_ += seg.size();
        waiting_.push_back(std::move(seg));
        at += n;
    } while (at < message.size());
    fill_window(now);
}

void ReliableChannel::fill_window(base::TimePoint now) {
    while (!waiting_.empty() && flight_.size() < cfg_.window) {
        uint32_t seq = next_seq_++;
        Outgoing o;
        o.bytes = std::move(waiting_.front());
        waiting_.pop_front();
        for (int i = 0; i < 4; ++i) o.bytes[1 + static_cast<size_t>(i)] = static_cast<uint8_t>(seq >> (8 * (3 - i)));
        auto& ref = flight_.emplace(seq, std::move(o)).first->second;
        transmit(seq, ref, now);
    }
}

void ReliableChannel::transmit(uint32_t, Outgoing& o, base::TimePoint now) {
    if (o.transmissions > 0) ++stats_.retransmits;
    ++stats_.segments_sent;
    ++o.transmissions;
    o.sent = now;
    o.later_acked = 0;
    // Exponential backoff per segment: a path that drops everything is not flooded.
    auto rto = std::min(rto_ * (1 << std::min<int>(o.transmissions - 1, 6)), cfg_.rto_max);
    o.due = now + rto;
    out_.push_back(o.bytes);
}

void ReliableChannel::on_segment(std::span<const uint8_t> seg, base::TimePoint now,
                                 std::vector<std::vector<uint8_t>>& delivered) {
    if (seg.empty()) {
        ++stats_.malformed;
        return;
    }
    if (seg[0] == kAck) {
        if (seg.size() != 1 + 4 + 8) {
            ++stats_.malformed;
            return;
        }
        uint64_t sack = 0;
        for (size_t i = 0; i < 8; ++i) sack = sack << 8 | seg[5 + i];
        on_ack(get32(seg.data() + 1), sack, now);
        return;
    }
    if (seg[0] != kData || seg.size() < kSegmentHeader || (seg[5] & ~(kFirst | kLast)) != 0) {
        ++stats_.malformed;
        return;
    }
    ++stats_.segments_received;
    uint32_t seq = get32(seg.data() + 1);
    // Beyond what the sender's window could have sent: a broken or hostile peer.
    if (!before(seq, expected_ + static_cast<uint32_t>(4 * cfg_.window))) {
        ++stats_.malformed;
        return;
    }
    if (before(seq, expected_) || early_.count(seq)) {
        ++stats_.duplicates;  // our acknowledgement was lost: say it again
        send_ack();
        return;
    }
    early_.emplace(seq, std::vector<uint8_t>(seg.begin(), seg.end()));
    // Hand up everything now in order.
    for (auto it = early_.find(expected_); it != early_.end(); it = early_.find(expected_)) {
        const auto& s = it->second;
        uint8_t flags = s[5];
        if (flags & kFirst) {
            assembling_.clear();
            in_message_ = true;
        }
        if (in_message_) assembling_.insert(assembling_.end(), s.begin() + kSegmentHeader, s.end());
        if ((flags & kLast) && in_message_) {
            delivered.push_back(std::move(assembling_));
            assembling_.clear();
            in_message_ = false;
            ++stats_.messages_delivered;
        }
        early_.erase(it);
        ++expected_;
    }
    send_ack();
}

void ReliableChannel::send_ack() {
    uint64_t sack = 0;
    for (auto& [seq, s] : early_) {
        uint32_t d = seq - expected_ - 1;
        if (d < 64) sack |= uint64_t{1} << d;
    }
    std::vector<uint8_t> a;
    a.reserve(13);
    a.push_back(kAck);
    put32(a, expected_);
    for (int i = 7; i >= 0; --i) a.push_back(static_cast<uint8_t>(sack >> (8 * i)));
    out_.push_back(std::move(a));
    ++stats_.acks_sent;
}

void ReliableChannel::on_ack(uint32_t next, uint64_t sack, base::TimePoint now) {
    // An acknowledgement for something never sent is ignored.
    if (before(next_seq_, next)) return;
    while (!flight_.empty() && before(flight_.begin()->first, next)) acknowledged(flight_.begin()->first, now);
    uint32_t acked = next - cfg_.initial_seq;  // segments acknowledged in order, as an offset
    while (!unacked_.empty() && !before(acked, unacked_.front().end)) unacked_.pop_front();
    uint32_t highest = next;
    for (uint32_t i = 0; i < 64; ++i)
        if (sack >> i & 1) {
            uint32_t seq = next + 1 + i;
            if (flight_.count(seq)) acknowledged(seq, now);
            highest = seq;
        }
    // Three later segments arrived while this one did not: it was lost; do not wait for the RTO.
    for (auto& [seq, o] : flight_) {
        if (!before(seq, highest)) break;
        if (++o.later_acked == 3 && o.transmissions == 1) {
            ++stats_.fast_retransmits;
            transmit(seq, o, now);
        }
    }
    fill_window(now);
}

void ReliableChannel::acknowledged(uint32_t seq, base::TimePoint now) {
    auto it = flight_.find(seq);
    if (it == flight_.end()) return;
    // Karn: only segments sent once give an RTT sample.
    if (it->second.transmissions == 1) rtt_sample(now - it->second.sent);
    queued_bytes_ -= it->second.bytes.size();
    flight_.erase(it);
}

void ReliableChannel::rtt_sample(base::Duration r) {
    if (srtt_.count() == 0) {
        srtt_ = r;
        rttvar_ = r / 2;
    } else {
        auto diff = srtt_ > r ? srtt_ - r : r - srtt_;
        rttvar_ = (rttvar_ * 3 + diff) / 4;
        srtt_ = (srtt_ * 7 + r) / 8;
    }
    rto_ = std::clamp(srtt_ + 4 * rttvar_, cfg_.rto_min, cfg_.rto_max);
}

std::vector<std::vector<uint8_t>> ReliableChannel::take_unacknowledged() {
    std::vector<std::vector<uint8_t>> out;
    for (auto& m : unacked_) out.push_back(std::move(m.payload));
    unacked_.clear();
    return out;
}

base::TimePoint ReliableChannel::tick(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    for (auto& [seq, o] : flight_) {
        if (now >= o.due) transmit(seq, o, now);
        next = std::min(next, o.due);
    }
    return next;
}

}  // namespace session
