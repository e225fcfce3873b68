#include "session/link.hpp"

#include "base/hex.hpp"

namespace session {

const char* path_name(Path p) {
    switch (p) {
        case Path::relay: return "relay";
        case Path::udp: return "udp";
        case Path::tcp: return "tcp";
    }
    return "?";
}

std::string short_id(const crypto::PublicKey& k) { return base::to_hex(std::span{k}.first(4)); }

const char* method_name(Method m) {
    switch (m) {
        case Method::dial: return "dial";
        case Method::accept: return "accept";
        case Method::lan: return "lan";
        case Method::punch: return "punch";
        case Method::simultaneous_open: return "simultaneous-open";
        case Method::relay: return "relay";
        case Method::birthday: return "birthday";
    }
    return "?";
}

}  // namespace session
