#include "net/port_map_client.hpp"

#include <arpa/inet.h>
#include <sys/select.h>

#include <chrono>
#include <cstring>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#define ENABLE_STRNATPMPERR  // the library exports it; the header hides it behind this
#include <natpmp.h>

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

}  // namespace

PortMapClient::~PortMapClient() = default;

base::Result<PortMapGrant> PortMapClient::map(const PortMapRequest& req) {
    if (internal_port_ != req.internal_port) {
        internal_port_ = req.internal_port;
        external_port_ = 0;
    }
    // The protocol that worked last time first: a renewal should not wait for the other's timeout.
    bool upnp_first = last_protocol_ == "upnp";
    base::Status first_error;
    for (int round = 0; round < 2; ++round) {
        bool try_upnp = (round == 0) == upnp_first;
        if (try_upnp && !req.upnp) continue;
        if (!try_upnp && !req.natpmp) continue;
        auto g = try_upnp ? map_upnp(req) : map_natpmp(req);
        if (g) {
            last_protocol_ = g->protocol;
            external_port_ = g->external.port;
            return g;
        }
        if (first_error.ok()) first_error = g.status();
        else first_error = base::Status{g.status().code(), first_error.detail() + "; " + g.status().detail()};
    }
    last_protocol_.clear();
    if (first_error.ok()) return base::invalid_argument("no port mapping protocol enabled");
    return first_error;
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
    if (last_protocol_ == "upnp") (void)unmap_upnp();
    tcp_mapped_ = g.tcp;
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
    if (last_protocol_ == "natpmp") (void)unmap_natpmp();
    tcp_mapped_ = g.tcp;
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
    external_port_ = 0;
    tcp_mapped_ = false;
    forget_upnp();
}

base::Status PortMapClient::unmap() {
    base::Status st;
    if (last_protocol_ == "natpmp") st = unmap_natpmp();
    else if (last_protocol_ == "upnp") st = unmap_upnp();
    last_protocol_.clear();
    external_port_ = 0;
    tcp_mapped_ = false;
    return st;
}

}  // namespace net
