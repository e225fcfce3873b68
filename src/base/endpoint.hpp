#pragma once
// An IPv4 or IPv6 address and a UDP/TCP port, as plain bytes so that the protocol cores can
// compare, hash and print endpoints without touching the socket API (net/ converts to sockaddr).
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace base {

struct Endpoint {
    enum class Family : uint8_t { v4, v6 };
    Family family = Family::v4;
    std::array<uint8_t, 16> addr{};  // v4 uses the first 4 bytes
    uint16_t port = 0;

    static Endpoint v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);
    // "1.2.3.4:5678" or "[::1]:5678"; numeric addresses only (host names are resolved in net/).
    static Result<Endpoint> parse(std::string_view text);

    bool is_v6() const { return family == Family::v6; }
    bool is_loopback() const;
    // A private-use address (10/8, 172.16/12, 192.168/16, fc00::/7, fe80::/10): a LAN.
    bool is_private() const;     // RFC 1918, IPv6 unique-local and link-local
    bool is_link_local() const;  // IPv6 fe80::/10: meaningless without its interface
    bool is_unspecified() const;
    std::string address_string() const;  // without port, no brackets
    std::string to_string() const;       // with port; IPv6 in brackets
    void append_to(std::string& out) const;  // to_string(), appended: every reply's contacts

    friend bool operator==(const Endpoint&, const Endpoint&) = default;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;

private:
    void append_v4(std::string& out) const;
};

// Splits "host:port" / "[v6]:port" into host and port without resolving the host.
Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view text);

struct EndpointHash {
    size_t operator()(const Endpoint& e) const noexcept;
};

}  // namespace base
