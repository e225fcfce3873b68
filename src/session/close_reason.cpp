#include "session/close_reason.hpp"

namespace session {

const char* reason_name(CloseReason r) {
    switch (r) {
        case CloseReason::idle: return "idle";
        case CloseReason::disconnect: return "disconnect";
        case CloseReason::duplicate: return "duplicate";
        case CloseReason::upgraded: return "upgraded";
        case CloseReason::shutdown: return "shutdown";
        case CloseReason::handshake_timeout: return "handshake_timeout";
        case CloseReason::handshake_failed: return "handshake_failed";
        case CloseReason::peer_silent: return "peer_silent";
        case CloseReason::link_failed: return "link_failed";
        case CloseReason::protocol_error: return "protocol_error";
        case CloseReason::refused: return "refused";
        case CloseReason::other: return "other";
    }
    return "other";
}

CloseReason parse_reason(std::string_view text) {
    size_t end = 0;
    while (end < text.size() && ((text[end] >= 'a' && text[end] <= 'z') || text[end] == '_')) ++end;
    std::string_view token = text.substr(0, end);
    for (size_t i = 0; i < kCloseReasonCount; ++i) {
        auto r = static_cast<CloseReason>(i);
        if (token == reason_name(r)) return r;
    }
    return CloseReason::other;
}

std::string Closed::to_string() const {
    std::string s = by_peer ? std::string("peer closed: ") : std::string();
    s += reason_name(reason);
    if (!detail.empty()) s += ": " + detail;
    return s;
}

std::string Closed::wire_text() const {
    std::string s = reason_name(reason);
    if (!detail.empty()) s += ": " + detail;
    return s;
}

bool deliberate(const Closed& c) {
    switch (c.reason) {
        case CloseReason::idle:
        case CloseReason::duplicate:
        case CloseReason::upgraded: return true;
        case CloseReason::disconnect:
        case CloseReason::shutdown: return !c.by_peer;
        default: return false;
    }
}

}  // namespace session
