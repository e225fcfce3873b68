#include "base/endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace base {

Endpoint Endpoint::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    Endpoint e;
    e.addr[0] = a, e.addr[1] = b, e.addr[2] = c, e.addr[3] = d;
    e.port = port;
    return e;
}

Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return invalid_argument("expected [IPv6]:PORT, got '" + std::string(text) + "'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            return invalid_argument("expected HOST:PORT, got '" + std::string(text) + "'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return invalid_argument("IPv6 addresses need brackets: [" + std::string(host) + "]:PORT");
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535)
        return invalid_argument("bad port '" + std::string(port) + "'");
    return std::pair{std::string(host), static_cast<uint16_t>(value)};
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
    auto hp = split_host_port(text);
    if (!hp) return hp.status();
    Endpoint e;
    e.port = hp->second;
    if (inet_pton(AF_INET, hp->first.c_str(), e.addr.data()) == 1) {
        e.family = Family::v4;
    } else if (inet_pton(AF_INET6, hp->first.c_str(), e.addr.data()) == 1) {
        e.family = Family::v6;
    } else {
        return invalid_argument("not a numeric address: '" + hp->first + "'");
    }
    return e;
}

bool Endpoint::is_loopback() const {
    if (!is_v6()) return addr[0] == 127;
    static constexpr std::array<uint8_t, 16> kLoop{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return addr == kLoop;
}

bool Endpoint::is_private() const {
    if (!is_v6())
        return addr[0] == 10 || (addr[0] == 172 && (addr[1] & 0xf0) == 16) || (addr[0] == 192 && addr[1] == 168);
    return (addr[0] & 0xfe) == 0xfc || is_link_local();
}

bool Endpoint::is_link_local() const { return is_v6() && addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80; }

bool Endpoint::is_unspecified() const {
    size_t n = is_v6() ? 16 : 4;
    for (size_t i = 0; i < n; ++i)
        if (addr[i]) return false;
    return true;
}

std::string Endpoint::address_string() const {
    if (!is_v6()) {
        std::string out;
        out.reserve(15);
        append_v4(out);
        return out;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
    return buf;
}

// By hand: glibc's inet_ntop formats IPv4 with sprintf, and every contact in every DHT reply
// goes through here.
void Endpoint::append_v4(std::string& out) const {
    for (int i = 0; i < 4; ++i) {
        if (i) out.push_back('.');
        unsigned v = addr[static_cast<size_t>(i)];
        if (v >= 100) out.push_back(static_cast<char>('0' + v / 100));
        if (v >= 10) out.push_back(static_cast<char>('0' + v / 10 % 10));
        out.push_back(static_cast<char>('0' + v % 10));
    }
}

void Endpoint::append_to(std::string& out) const {
    if (is_v6()) {
        out += '[';
        out += address_string();
        out += ']';
    } else {
        append_v4(out);
    }
    out += ':';
    char digits[5];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, port).ptr);
}

std::string Endpoint::to_string() const {
    std::string s;
    s.reserve(22);
    append_to(s);
    return s;
}

size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
    uint64_t h = 1469598103934665603ULL;
    auto mix = [&](uint8_t b) { h = (h ^ b) * 1099511628211ULL; };
    for (auto b : e.addr) mix(b);
    mix(static_cast<uint8_t>(e.port));
    mix(static_cast<uint8_t>(e.port >> 8));
    mix(static_cast<uint8_t>(e.family));
    return h;
}

}  // namespace base
