#include "base/status.hpp"

namespace base {

const char* errc_name(Errc c) {
    switch (c) {
        case Errc::ok: return "ok";
        case Errc::malformed: return "malformed";
        case Errc::invalid_argument: return "invalid argument";
        case Errc::not_found: return "not found";
        case Errc::exists: return "exists";
        case Errc::io: return "I/O error";
        case Errc::permission: return "permission";
        case Errc::crypto: return "not authentic";
        case Errc::timeout: return "timeout";
        case Errc::unavailable: return "unavailable";
        case Errc::too_large: return "too large";
        case Errc::limit: return "limit reached";
        case Errc::internal: return "internal error";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (ok()) return "ok";
    std::string s = errc_name(code_);
    if (!detail_.empty()) s += ": " + detail_;
    return s;
}

}  // namespace base
