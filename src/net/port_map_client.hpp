#pragma once
// Asks the home router to forward a port to us (PROTOCOL.md §19): PCP (RFC 6887, our own client:
// net/pcp_message.hpp) first, then NAT-PMP (RFC 6886, Debian's libnatpmp), each one datagram to the
// default gateway's port 5351, then UPnP-IGD (Debian's libminiupnpc). All of it blocks, so every
// call here runs on a worker thread (cli/port_map_host.cpp), one at a time; nothing here touches
// the loop.
//
// Tailscale's portmapper has this shape: try the cheap protocol, remember which one answered, renew
// through it, and delete the mapping through it.
#include <array>
#include <cstdint>
#include <string>

#include "base/endpoint.hpp"
#include "base/status.hpp"

namespace net {

struct PortMapGrant {
    std::string protocol;       // "pcp", "natpmp" or "upnp"
    std::string gateway;        // the router that granted it (for people reading `ctl id`)
    base::Endpoint external;    // where the internet reaches our UDP port
    bool tcp = false;           // the same external port also forwards TCP to us
    uint32_t lifetime_s = 0;    // 0: until deleted (an IGD that only grants permanent leases)
};

struct PortMapRequest {
    uint16_t internal_port = 0;
    uint32_t lifetime_s = 3600;
    bool pcp = true;
    bool natpmp = true;
    bool upnp = true;
    int natpmp_wait_ms = 2000;      // for the gateway's answer (PCP or NAT-PMP), resends included
    int upnp_discover_ms = 2000;    // SSDP discovery
};

class PortMapClient {
public:
    PortMapClient() = default;
    PortMapClient(const PortMapClient&) = delete;
    PortMapClient& operator=(const PortMapClient&) = delete;
    ~PortMapClient();

    // Maps (or renews) UDP and TCP `internal_port`, asking for the same external port as last
    // time, or the internal one. Tries the protocol that worked before first.
    base::Result<PortMapGrant> map(const PortMapRequest& req);
    // Deletes what map() made; a no-op when nothing is mapped.
    base::Status unmap();
    // Forgets the mapping and the router without asking anything (we moved to another network).
    void forget();

private:
    base::Result<PortMapGrant> map_pcp(const PortMapRequest& req);
    base::Result<PortMapGrant> map_natpmp(const PortMapRequest& req);
    base::Result<PortMapGrant> map_upnp(const PortMapRequest& req);
    base::Status unmap_pcp();
    base::Status unmap_natpmp();
    base::Status unmap_upnp();
    void forget_upnp();

    std::string last_protocol_;
    uint16_t internal_port_ = 0;
    uint16_t external_port_ = 0;
    bool tcp_mapped_ = false;
    // PCP: the nonce that made the mapping (renewals and the deletion must repeat it, RFC 6887
    // §11.2), and the gateway that granted it.
    std::array<uint8_t, 12> pcp_nonce_{};
    bool pcp_nonce_set_ = false;
    uint32_t pcp_gateway_ = 0;  // network order
    // UPnP: the IGD's control URL and service type, found once and reused for renewal and delete.
    std::string upnp_control_url_;
    std::string upnp_service_;
    std::string upnp_lan_addr_;
};

}  // namespace net
