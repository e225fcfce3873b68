#pragma once
// Why a session, or an attempt at one, ended. Typed, so that policy (redial or not) never depends
// on the wording of a log line. On the wire (a close frame, PROTOCOL.md §12.4) a reason travels as
// its token, optionally followed by ": " and a detail that only goes to logs.
#include <cstdint>
#include <string>
#include <string_view>

namespace session {

enum class CloseReason : uint8_t {
    idle,               // no data either way for SessionConfig::idle_close
    disconnect,         // someone asked for it (ctl disconnect)
    duplicate,          // lost the tie-break against another session with the same peer
    upgraded,           // replaced by a session on a better path (TCP over UDP)
    shutdown,           // the node is stopping
    handshake_timeout,  // no answer to the handshake in time
    handshake_failed,   // a rejected init or response, a replayed init
    peer_silent,        // nothing heard for SessionConfig::dead_after
    link_failed,        // the transport failed: refused, reset, closed without a close frame
    protocol_error,     // a broken message or frame on a stream
    refused,            // over capacity
    other,              // a peer's token we do not know
};
inline constexpr size_t kCloseReasonCount = static_cast<size_t>(CloseReason::other) + 1;

const char* reason_name(CloseReason r);
// The reason at the start of a close frame's text: "idle", "disconnect: asked by the user".
CloseReason parse_reason(std::string_view text);

struct Closed {
    CloseReason reason = CloseReason::other;
    bool by_peer = false;  // the peer's close frame named the reason
    std::string detail;    // for logs only; policy never reads it
    // "disconnect: asked by the user", "peer closed: idle"
    std::string to_string() const;
    // The text for our close frame: the token, then the detail.
    std::string wire_text() const;
};

// Ends that nobody should undo by redialling: an idle close (either side), a disconnect asked
// for here, a lost tie-break or an upgrade (the peer has another session), our own shutdown.
bool deliberate(const Closed& c);

}  // namespace session
