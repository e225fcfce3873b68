#include "net/sockaddr.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

namespace net {

bool to_sockaddr(const base::Endpoint& ep, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof out);
    if (ep.is_v6()) {
        auto* s = reinterpret_cast<sockaddr_in6*>(&out);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(ep.port);
        std::memcpy(&s->sin6_addr, ep.addr.data(), 16);
    } else {
        auto* s = reinterpret_cast<sockaddr_in*>(&out);
        s->sin_family = AF_INET;
        s->sin_port = htons(ep.port);
        std::memcpy(&s->sin_addr, ep.addr.data(), 4);
    }
    return true;
}

bool from_sockaddr(const sockaddr* sa, base::Endpoint& out) {
    out = {};
    if (sa->sa_family == AF_INET) {
        auto* s = reinterpret_cast<const sockaddr_in*>(sa);
        out.family = base::Endpoint::Family::v4;
        std::memcpy(out.addr.data(), &s->sin_addr, 4);
        out.port = ntohs(s->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
        static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(&s->sin6_addr, kMapped, 12) == 0) {  // v4-mapped: treat as IPv4
            out.family = base::Endpoint::Family::v4;
            std::memcpy(out.addr.data(), reinterpret_cast<const uint8_t*>(&s->sin6_addr) + 12, 4);
        } else {
            out.family = base::Endpoint::Family::v6;
            std::memcpy(out.addr.data(), &s->sin6_addr, 16);
        }
        out.port = ntohs(s->sin6_port);
        return true;
    }
    return false;
}

base::Result<std::vector<base::Endpoint>> resolve(const std::string& host_port) {
    auto hp = base::split_host_port(host_port);
    if (!hp) return hp.status();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(hp->first.c_str(), std::to_string(hp->second).c_str(), &hints, &res);
    if (rc != 0)
        return base::Status{base::Errc::not_found,
                            "cannot resolve '" + hp->first + "': " + gai_strerror(rc)};
    std::vector<base::Endpoint> out;
    for (auto* ai = res; ai; ai = ai->ai_next) {
        base::Endpoint ep;
        if (from_sockaddr(ai->ai_addr, ep) &&
            std::find(out.begin(), out.end(), ep) == out.end())
            out.push_back(ep);
    }
    freeaddrinfo(res);
    if (out.empty()) return base::Status{base::Errc::not_found, "no address for '" + hp->first + "'"};
    return out;
}

}  // namespace net
