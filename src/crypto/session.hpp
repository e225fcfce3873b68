#pragma once
// One secure session, sans-I/O: bytes from the peer and `now` go in; bytes for the peer, events
// and the next deadline come out. The same object runs over a TCP stream (messages carry a 16-bit
// length prefix) or over datagrams (one message per datagram: a punched UDP path, a relay), so the
// NAT traversal work reuses it unchanged. Inside the frames: application data, ping/pong
// (keepalive and RTT) and close (with a reason).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "crypto/handshake.hpp"
#include "crypto/transport.hpp"

namespace crypto {

struct SessionConfig {
    base::Duration handshake_timeout = std::chrono::seconds(10);
    base::Duration handshake_resend = std::chrono::seconds(1);  // datagram mode only
    base::Duration keepalive = std::chrono::seconds(15);        // ping after this long without sending
    base::Duration dead_after = std::chrono::seconds(45);       // close after this long without hearing
    base::Duration idle_close = std::chrono::minutes(10);       // close after this long without data
};

// What a responder needs from its node: the cookie jar, whether the node is under load, and a
// check that an init's timestamp is newer than any seen from that peer (replayed inits).
struct ResponderContext {
    CookieJar* jar = nullptr;
    std::function<bool()> under_load;
    std::function<bool(const PublicKey& peer, uint64_t timestamp_ms)> fresh_init;
};

enum class Inner : uint8_t { data = 0, ping = 1, pong = 2, close = 3 };

class Session {
public:
    using Mode = TransportCipher::Mode;
    enum class Role { initiator, responder };
    enum class State { handshaking, established, closed };
    // Why a closed session ended, for policy (whether to redial) without reading the text:
    // local = close() by the owner, peer = the peer's close frame (peer_reason() holds its
    // text), protocol = a message or frame that broke the protocol.
    enum class End { none, local, peer, idle, handshake_timeout, handshake_failed, peer_silent, protocol };
    struct Event {
        enum class Type { established, data, closed } type;
        std::vector<uint8_t> data;  // data: the payload, from byte `skip` on
        std::string reason;         // closed: why
        size_t skip = 0;            // (the decrypted frame is moved in whole, not copied)
        std::span<const uint8_t> payload() const { return std::span{data}.subspan(skip); }
    };

    // Simultaneous open (TCP connect from both ends at once, both ends of a punched path): both
    // ends start as initiators on one link. The init from the smaller public key wins: its
    // sender drops the other init, and the other end drops its own handshake and answers the
    // winner's init as a responder, with what `Yield` gives it.
    struct Yield {
        ResponderContext ctx;
        std::vector<uint8_t> source;  // the peer's address on this path, for cookies
    };
    // Starts a handshake at once; `first` rides in the init (0-RTT: replayable, see PROTOCOL.md).
    static base::Result<std::unique_ptr<Session>> connect(const SessionKeys& me, const PublicKey& peer, Mode mode,
                                                          base::Rng& rng, const SessionConfig& cfg,
                                                          base::TimePoint now, uint64_t wall_ms,
                                                          std::span<const uint8_t> first = {},
                                                          std::optional<Yield> yield = std::nullopt);
    // Waits for an init. `source` names the peer's address on this path (for cookies).
    static std::unique_ptr<Session> accept(const SessionKeys& me, const ResponderContext& ctx, Mode mode,
                                           base::Rng& rng, const SessionConfig& cfg, base::TimePoint now,
                                           std::vector<uint8_t> source);

    // Stream mode: any chunk of the byte stream. Datagram mode: exactly one message.
    void receive(std::span<const uint8_t> bytes, base::TimePoint now);
    // Queued until the handshake completes. Errc::too_large above kMaxFrameBody, Errc::unavailable
    // once closed.
    base::Status send(std::span<const uint8_t> payload, base::TimePoint now);
    void close(const std::string& reason, base::TimePoint now);  // sends a close frame if it can
    base::TimePoint tick(base::TimePoint now);

    // Output, drained by the owner.
    std::vector<uint8_t> take_stream_bytes() {
        std::vector<uint8_t> next;
        if (!spares_.empty()) {
            next = std::move(spares_.back());
            spares_.pop_back();
            next.clear();
        }
        return std::exchange(stream_out_, std::move(next));
    }
    // Hands back a buffer from take_stream_bytes() once written: its memory is reused, which
    // spares a megabyte-sized allocation (and its page faults) per batch on a busy session.
    // A few are kept, as a bulk sender has several batches in flight.
    void recycle(std::vector<uint8_t>&& buf) {
        if (spares_.size() < kSpares && buf.capacity() > 0) spares_.push_back(std::move(buf));
    }
    // Hands back a data event's buffer once the owner is done with it: the next frame is
    // decrypted into it (no allocation, and no zero-fill when frames have the same size).
    // A few are kept: one read can hold several frames.
    void recycle_event_buffer(std::vector<uint8_t>&& buf) {
        if (plain_spares_.size() < kSpares && buf.capacity() > 0) plain_spares_.push_back(std::move(buf));
    }
    std::vector<std::vector<uint8_t>> take_datagrams() { return std::exchange(datagrams_out_, {}); }
    std::vector<Event> take_events() { return std::exchange(events_, {}); }
    bool has_output() const { return !stream_out_.empty() || !datagrams_out_.empty(); }

    State state() const { return state_; }
    Role role() const { return role_; }
    Mode mode() const { return mode_; }
    bool peer_known() const { return peer_known_; }
    const PublicKey& peer() const { return peer_; }
    const std::string& close_reason() const { return close_reason_; }
    End end() const { return end_; }
    const std::string& peer_reason() const { return peer_reason_; }  // End::peer: the close frame's text
    std::optional<base::Duration> rtt() const { return rtt_; }
    base::TimePoint started() const { return started_; }
    uint64_t bytes_in() const { return bytes_in_; }
    uint64_t bytes_out() const { return bytes_out_; }
    uint64_t frames_in() const { return frames_in_; }
    uint64_t frames_out() const { return frames_out_; }
    uint64_t dropped() const { return dropped_; }  // datagram mode: messages dropped, not fatal
    const TransportCipher* cipher() const { return cipher_ ? &*cipher_ : nullptr; }

private:
    Session(const SessionKeys& me, Role role, Mode mode, base::Rng& rng, const SessionConfig& cfg,
            base::TimePoint now);
    void on_message(std::span<const uint8_t> msg, base::TimePoint now);
    void on_init(std::span<const uint8_t> msg, base::TimePoint now);
    void on_transport(std::span<const uint8_t> msg, base::TimePoint now);
    void established(noise::TransportKeys keys, base::TimePoint now);
    void emit(std::span<const uint8_t> msg);
    void seal(Inner type, std::span<const uint8_t> body, base::TimePoint now);
    // A failure: closed without a close frame.
    void fail(const std::string& reason, base::TimePoint now, End end = End::protocol);
    base::Status send_init(base::TimePoint now);

    const SessionKeys& me_;
    Role role_;
    Mode mode_;
    base::Rng& rng_;
    SessionConfig cfg_;
    State state_ = State::handshaking;
    PublicKey peer_{};
    bool peer_known_ = false;
    std::string close_reason_;
    End end_ = End::none;
    std::string peer_reason_;

    std::optional<InitiatorHandshake> initiator_;
    std::vector<uint8_t> first_payload_;
    uint64_t wall_ms_ = 0;
    base::TimePoint last_init_{};
    ResponderContext ctx_;
    std::vector<uint8_t> source_;
    std::optional<Yield> yield_;
    std::optional<PublicKey> expect_peer_;  // a yielded or repeated init must come from this peer
    std::optional<TransportCipher> cipher_;

    std::vector<uint8_t> in_;  // stream: the start of a message split across reads
    std::vector<std::vector<uint8_t>> queued_;  // sends before the handshake finished
    std::vector<uint8_t> stream_out_;
    static constexpr size_t kSpares = 8;
    std::vector<std::vector<uint8_t>> spares_;
    std::vector<std::vector<uint8_t>> plain_spares_;
    std::vector<std::vector<uint8_t>> datagrams_out_;
    std::vector<Event> events_;

    base::TimePoint started_, last_sent_, last_heard_, last_data_;
    std::optional<base::Duration> rtt_;
    uint64_t bytes_in_ = 0, bytes_out_ = 0, frames_in_ = 0, frames_out_ = 0, dropped_ = 0;
};

}  // namespace crypto
