#include "net/port_map_client.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#define ENABLE_STRNATPMPERR  // the library exports it; the header hides it behind this
#include <natpmp.h>

#include "net/pcp_message.hpp"

namespace net {

namespace {

using Clock = std::chrono::steady_clock;

base::Status unavailable(std::string d) { return {base::Errc::unavailable, std::move(d)}; }

base::Endpoint v4_endpoint(const in_addr& a, uint16_t port) {
    base::Endpoint e;
    e.family = base::Endpoint::Family::v4;
    std::memcpy(e.addr.data(), &a.s_addr, 4);
    e.port = port;
    return e;
}

// One NAT-PMP exchange: the request was sent; wait for its answer, letting libnatpmp resend on
// its own schedule (250 ms, doubling), but never past `deadline`.
base::Result<natpmpresp_t> natpmp_answer(natpmp_t& p, Clock::time_point deadline) {
    for (;;) {
        natpmpresp_t resp{};
        int r = readnatpmpresponseorretry(&p, &resp);
        if (r == 0) return resp;
        if (r != NATPMP_TRYAGAIN) return unavailable("NAT-PMP: " + std::string{strnatpmperr(r)});
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) return base::Status{base::Errc::timeout, "NAT-PMP: the gateway did not answer"};
        timeval tv{};
        getnatpmprequesttimeout(&p, &tv);
        auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
        int64_t wait_us = int64_t{tv.tv_sec} * 1000000 + tv.tv_usec;
        if (wait_us < 0 || wait_us > left_us) wait_us = left_us;
        tv.tv_sec = static_cast<time_t>(wait_us / 1000000);
        tv.tv_usec = static_cast<suseconds_t>(wait_us % 1000000);
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(p.s, &fds);
        select(p.s + 1, &fds, nullptr, nullptr, &tv);
    }
}

struct NatPmp {
    natpmp_t p{};
    bool open = false;
    ~NatPmp() {
        if (open) closenatpmp(&p);
    }
    base::Status init() {
        int r = initnatpmp(&p, 0, 0);
        if (r < 0) return unavailable("NAT-PMP: " + std::string{strnatpmperr(r)});
        open = true;
        return {};
    }
    std::string gateway() const {
        in_addr a{};
        a.s_addr = p.gateway;
        char buf[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &a, buf, sizeof buf);
        return buf;
    }
    // Maps one protocol; lifetime 0 deletes. Returns the granted public port and lifetime.
    base::Result<natpmpresp_t> map(int proto, uint16_t internal, uint16_t external, uint32_t lifetime, int wait_ms) {
        int r = sendnewportmappingrequest(&p, proto, internal, external, lifetime);
        if (r < 0) return unavailable("NAT-PMP: " + std::string{strnatpmperr(r)});
        return natpmp_answer(p, Clock::now() + std::chrono::milliseconds(wait_ms));
    }
};

// The default gateway, as libnatpmp finds it (the routing table); PCP asks the same router.
base::Result<uint32_t> default_gateway() {
    NatPmp pmp;
    if (auto st = pmp.init(); !st.ok()) return st;
    return static_cast<uint32_t>(pmp.p.gateway);
}

std::string ipv4_string(uint32_t net_order) {
    in_addr a{};
    a.s_addr = net_order;
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

// One PCP exchange over a socket connected to the gateway's port 5351, so that only the gateway's
// answers arrive and "port unreachable" comes back as ECONNREFUSED at once. Resends at 250 ms,
// doubling, until `wait_ms` (RFC 6887 §8.1.1 starts at 3 s; on a LAN, an answer that has not come
// in 250 ms was lost). Answers that are not for this request are ignored.
// ICMP port unreachable: as final as no answer at all (Errc::timeout) for NAT-PMP on that port.
base::Status nothing_listens() {
    return {base::Errc::not_found, "PCP: nothing listens on the gateway's port 5351"};
}

struct PcpExchange {
    int fd = -1;
    base::Endpoint local;
    ~PcpExchange() {
        if (fd >= 0) ::close(fd);
    }
    base::Status open(uint32_t gateway) {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return unavailable("PCP: socket: " + std::string{std::strerror(errno)});
        sockaddr_in gw{};
        gw.sin_family = AF_INET;
        gw.sin_port = htons(pcp::kServerPort);
        gw.sin_addr.s_addr = gateway;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&gw), sizeof gw) != 0)
            return unavailable("PCP: connect: " + std::string{std::strerror(errno)});
        sockaddr_in me{};
        socklen_t len = sizeof me;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) != 0)
            return unavailable("PCP: getsockname: " + std::string{std::strerror(errno)});
        local = v4_endpoint(me.sin_addr, ntohs(me.sin_port));
        return {};
    }
    base::Result<pcp::MapResponse> run(const pcp::MapRequest& req, int wait_ms) {
        auto bytes = pcp::encode_map(req);
        auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
        auto resend = Clock::now();
        int interval_ms = 250;
        for (;;) {
            auto now = Clock::now();
            if (now >= deadline) return base::Status{base::Errc::timeout, "PCP: the gateway did not answer"};
            if (now >= resend) {
                if (::send(fd, bytes.data(), bytes.size(), 0) < 0) {
                    if (errno == ECONNREFUSED) return nothing_listens();
                    return unavailable("PCP: send: " + std::string{std::strerror(errno)});
                }
                resend = now + std::chrono::milliseconds(interval_ms);
                interval_ms *= 2;
            }
            auto until = std::min(resend, deadline);
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
            pollfd pfd{fd, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(ms, 1))) <= 0) continue;
            uint8_t buf[1100];  // RFC 6887 §7: messages are at most 1100 bytes
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == ECONNREFUSED) return nothing_listens();
                continue;
            }
            auto r = pcp::parse_map_response({buf, static_cast<size_t>(n)}, req);
            if (r) return r;
        }
    }
};

}  // namespace

PortMapClient::~PortMapClient() = default;

base::Result<PortMapGrant> PortMapClient::map(const PortMapRequest& req) {
    if (internal_port_ != req.internal_port) {
        internal_port_ = req.internal_port;
        external_port_ = 0;
        pcp_nonce_set_ = false;
    }
    // PCP, NAT-PMP, UPnP; but the protocol that worked last time first: a renewal should not wait
    // for another's timeout.
    std::vector<std::string> order;
    if (!last_protocol_.empty()) order.push_back(last_protocol_);
    for (const char* p : {"pcp", "natpmp", "upnp"})
        if (p != last_protocol_) order.emplace_back(p);
    base::Status first_error;
    bool port_5351_silent = false;  // PCP got no answer there: NAT-PMP, on the same port, would not
    for (const auto& proto : order) {
        if (proto == "pcp" && !req.pcp) continue;
        if (proto == "natpmp" && (!req.natpmp || port_5351_silent)) continue;
        if (proto == "upnp" && !req.upnp) continue;
        auto g = proto == "pcp" ? map_pcp(req) : proto == "natpmp" ? map_natpmp(req) : map_upnp(req);
        if (g) {
            // Another protocol held the mapping before (the router changed what it speaks, or
            // this one lapsed): delete the old one there.
            if (!last_protocol_.empty() && last_protocol_ != g->protocol) {
                std::string old = last_protocol_;
                last_protocol_ = g->protocol;
                if (old == "pcp") (void)unmap_pcp();
                else if (old == "natpmp") (void)unmap_natpmp();
                else (void)unmap_upnp();
            }
            last_protocol_ = g->protocol;
            external_port_ = g->external.port;
            tcp_mapped_ = g->tcp;
            return g;
        }
        if (proto == "pcp" && (g.status().code() == base::Errc::timeout || g.status().code() == base::Errc::not_found))
            port_5351_silent = true;
        if (first_error.ok()) first_error = g.status();
        else first_error = base::Status{g.status().code(), first_error.detail() + "; " + g.status().detail()};
    }
    last_protocol_.clear();
    if (first_error.ok()) return base::invalid_argument("no port mapping protocol enabled");
    return first_error;
}

base::Result<PortMapGrant> PortMapClient::map_pcp(const PortMapRequest& req) {
    auto gw = default_gateway();
    if (!gw) return base::Status{gw.status().code(), "PCP: no default gateway"};
    if (*gw != pcp_gateway_) pcp_nonce_set_ = false;  // another router: a new mapping
    PcpExchange ex;
    if (auto st = ex.open(*gw); !st.ok()) return st;
    if (!pcp_nonce_set_) {
        if (getrandom(pcp_nonce_.data(), pcp_nonce_.size(), 0) != static_cast<ssize_t>(pcp_nonce_.size()))
            return unavailable("PCP: getrandom failed");
        pcp_nonce_set_ = true;
        pcp_gateway_ = *gw;
    }
    pcp::MapRequest udp_req;
    udp_req.client = ex.local;
    udp_req.protocol = pcp::kProtoUdp;
    udp_req.internal_port = req.internal_port;
    udp_req.suggested_port = external_port_ ? external_port_ : req.internal_port;
    udp_req.lifetime_s = req.lifetime_s;
    udp_req.nonce = pcp_nonce_;
    auto udp = ex.run(udp_req, req.natpmp_wait_ms);
    if (!udp) return udp.status();
    if (udp->natpmp_only) return unavailable("PCP: the gateway speaks NAT-PMP only");
    if (udp->result != 0) return unavailable(std::string{"PCP: "} + pcp::result_name(udp->result));
    if (udp->external.is_v6()) return unavailable("PCP: the gateway mapped an IPv6 address for an IPv4 port");
    PortMapGrant g;
    g.protocol = "pcp";
    g.gateway = ipv4_string(*gw);
    g.external = udp->external;
    g.lifetime_s = udp->lifetime_s;
    // TCP on the same external port, so that one endpoint serves both (PROTOCOL.md §16.6).
    pcp::MapRequest tcp_req = udp_req;
    tcp_req.protocol = pcp::kProtoTcp;
    tcp_req.suggested_port = g.external.port;
    auto tcp = ex.run(tcp_req, req.natpmp_wait_ms);
    if (tcp && tcp->result == 0 && tcp->external.port == g.external.port) {
        g.tcp = true;
    } else if (tcp && tcp->result == 0) {
        tcp_req.lifetime_s = 0;  // another port: of no use (candidates name one port for both)
        (void)ex.run(tcp_req, 1000);
    }
    return g;
}

base::Status PortMapClient::unmap_pcp() {
    if (!pcp_nonce_set_) return {};
    PcpExchange ex;
    if (auto st = ex.open(pcp_gateway_); !st.ok()) return st;
    // RFC 6887 §15: lifetime 0 deletes, given the nonce that made the mapping.
    pcp::MapRequest del;
    del.client = ex.local;
    del.protocol = pcp::kProtoUdp;
    del.internal_port = internal_port_;
    del.nonce = pcp_nonce_;
    auto udp = ex.run(del, 1000);
    if (tcp_mapped_) {
        del.protocol = pcp::kProtoTcp;
        (void)ex.run(del, 1000);
    }
    if (!udp) return udp.status();
    if (udp->result != 0) return unavailable(std::string{"PCP: delete: "} + pcp::result_name(udp->result));
    return {};
}

base::Result<PortMapGrant> PortMapClient::map_natpmp(const PortMapRequest& req) {
    NatPmp pmp;
    if (auto st = pmp.init(); !st.ok()) return st;
    int r = sendpublicaddressrequest(&pmp.p);
    if (r < 0) return unavailable("NAT-PMP: " + std::string{strnatpmperr(r)});
    auto addr = natpmp_answer(pmp.p, Clock::now() + std::chrono::milliseconds(req.natpmp_wait_ms));
    if (!addr) return addr.status();
    if (addr->type != NATPMP_RESPTYPE_PUBLICADDRESS) return unavailable("NAT-PMP: unexpected answer");
    uint16_t want = external_port_ ? external_port_ : req.internal_port;
    auto udp = pmp.map(NATPMP_PROTOCOL_UDP, req.internal_port, want, req.lifetime_s, req.natpmp_wait_ms);
    if (!udp) return udp.status();
    PortMapGrant g;
    g.protocol = "natpmp";
    g.gateway = pmp.gateway();
    g.external = v4_endpoint(addr->pnu.publicaddress.addr, udp->pnu.newportmapping.mappedpublicport);
    g.lifetime_s = udp->pnu.newportmapping.lifetime;
    // TCP on the same external port, so that one endpoint serves both (PROTOCOL.md §16.6).
    auto tcp = pmp.map(NATPMP_PROTOCOL_TCP, req.internal_port, g.external.port, req.lifetime_s, req.natpmp_wait_ms);
    if (tcp && tcp->pnu.newportmapping.mappedpublicport == g.external.port) {
        g.tcp = true;
    } else if (tcp) {
        // Another port: of no use (candidates name one port for both); give it back.
        (void)pmp.map(NATPMP_PROTOCOL_TCP, req.internal_port, 0, 0, req.natpmp_wait_ms);
    }
    return g;
}

base::Status PortMapClient::unmap_natpmp() {
    NatPmp pmp;
    if (auto st = pmp.init(); !st.ok()) return st;
    // RFC 6886 §3.4: lifetime 0 deletes; the suggested external port must be 0.
    auto udp = pmp.map(NATPMP_PROTOCOL_UDP, internal_port_, 0, 0, 1000);
    if (tcp_mapped_) (void)pmp.map(NATPMP_PROTOCOL_TCP, internal_port_, 0, 0, 1000);
    return udp ? base::Status{} : udp.status();
}

void PortMapClient::forget_upnp() {
    upnp_control_url_.clear();
    upnp_service_.clear();
    upnp_lan_addr_.clear();
}

base::Result<PortMapGrant> PortMapClient::map_upnp(const PortMapRequest& req) {
    if (upnp_control_url_.empty()) {
        int err = 0;
        UPNPDev* devs = upnpDiscover(req.upnp_discover_ms, nullptr, nullptr, 0, 0, 2, &err);
        if (!devs) return unavailable("UPnP: no Internet gateway device answered");
        UPNPUrls urls{};
        IGDdatas data{};
        char lan[64] = {};
        int r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan);
        freeUPNPDevlist(devs);
        if (r != 1) {
            if (r != 0) FreeUPNPUrls(&urls);
            return unavailable(r == 0 ? "UPnP: no Internet gateway device found"
                                      : "UPnP: the gateway device is not connected to the internet");
        }
        upnp_control_url_ = urls.controlURL;
        upnp_service_ = data.first.servicetype;
        upnp_lan_addr_ = lan;
        FreeUPNPUrls(&urls);
    }
    char ext_ip[40] = {};
    if (int r = UPNP_GetExternalIPAddress(upnp_control_url_.c_str(), upnp_service_.c_str(), ext_ip); r != UPNPCOMMAND_SUCCESS) {
        forget_upnp();  // the router may have changed: discover again next time
        return unavailable(std::string{"UPnP: GetExternalIPAddress: "} + strupnperror(r));
    }
    in_addr ext{};
    if (inet_pton(AF_INET, ext_ip, &ext) != 1) return unavailable(std::string{"UPnP: the gateway reports no external address"});
    std::string in_port = std::to_string(req.internal_port);
    std::string lease = std::to_string(req.lifetime_s);
    uint16_t want = external_port_ ? external_port_ : req.internal_port;
    auto add = [&](const char* proto, uint16_t ext_port, const std::string& lease_s) {
        std::string e = std::to_string(ext_port);
        return UPNP_AddPortMapping(upnp_control_url_.c_str(), upnp_service_.c_str(), e.c_str(), in_port.c_str(),
                                   upnp_lan_addr_.c_str(), "kadchat", proto, nullptr, lease_s.c_str());
    };
    // The wanted port, then a few others if it is taken by another host (error 718); an IGD that
    // grants only permanent leases (725) gets lease 0, deleted at exit.
    PortMapGrant g;
    g.protocol = "upnp";
    g.gateway = upnp_control_url_;
    g.lifetime_s = req.lifetime_s;
    int r = -1;
    uint16_t port = want;
    for (int attempt = 0; attempt < 4; ++attempt) {
        r = add("UDP", port, std::to_string(g.lifetime_s));
        if (r == 725) {
            g.lifetime_s = 0;
            r = add("UDP", port, "0");
        }
        if (r == UPNPCOMMAND_SUCCESS) break;
        if (r != 718) break;
        port = static_cast<uint16_t>(port < 65000 ? port + 1 + attempt * 97 : 20000 + attempt);
    }
    if (r != UPNPCOMMAND_SUCCESS) {
        forget_upnp();
        return unavailable(std::string{"UPnP: AddPortMapping: "} + strupnperror(r));
    }
    g.external = v4_endpoint(ext, port);
    g.tcp = add("TCP", port, std::to_string(g.lifetime_s)) == UPNPCOMMAND_SUCCESS;
    return g;
}

base::Status PortMapClient::unmap_upnp() {
    if (upnp_control_url_.empty() || external_port_ == 0) return {};
    std::string e = std::to_string(external_port_);
    int r = UPNP_DeletePortMapping(upnp_control_url_.c_str(), upnp_service_.c_str(), e.c_str(), "UDP", nullptr);
    if (tcp_mapped_) (void)UPNP_DeletePortMapping(upnp_control_url_.c_str(), upnp_service_.c_str(), e.c_str(), "TCP", nullptr);
    if (r != UPNPCOMMAND_SUCCESS) return unavailable(std::string{"UPnP: DeletePortMapping: "} + strupnperror(r));
    return {};
}

void PortMapClient::forget() {
    last_protocol_.clear();
    pcp_nonce_set_ = false;
    external_port_ = 0;
    tcp_mapped_ = false;
    forget_upnp();
}

base::Status PortMapClient::unmap() {
    base::Status st;
    if (last_protocol_ == "pcp") st = unmap_pcp();
    else if (last_protocol_ == "natpmp") st = unmap_natpmp();
    else if (last_protocol_ == "upnp") st = unmap_upnp();
    last_protocol_.clear();
    external_port_ = 0;
    tcp_mapped_ = false;
    return st;
}

}  // namespace net
