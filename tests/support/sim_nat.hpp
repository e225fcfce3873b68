#pragma once
// A NAT for simulations, by the book (RFC 4787 terms), with the behaviour the lab's nftables NATs
// have (../docs/PROTOCOL.md §16, tests/nat/): mappings and filter entries that expire unless
// traffic refreshes them, inbound packets that no entry admits silently dropped.
//
//   kind             mapping                              filtering
//   full_cone        endpoint-independent                 endpoint-independent (anyone)
//   restricted       endpoint-independent                 address-dependent
//   port_restricted  endpoint-independent                 address-and-port-dependent
//   symmetric        endpoint-dependent (random ports)    address-and-port-dependent
//   firewall         none (the host's own address)        address-and-port-dependent
//
// Hosts behind one NAT reach each other by their private endpoints (the LAN); the NAT does not
// hairpin. Deterministic: ports come from a seeded RNG.
#include <map>
#include <optional>
#include <tuple>

#include "base/endpoint.hpp"
#include "base/rng.hpp"
#include "base/time.hpp"

namespace sim {

enum class NatKind { full_cone, restricted, port_restricted, symmetric, firewall };
const char* nat_kind_name(NatKind k);

class SimNat {
public:
    SimNat(NatKind kind, base::Endpoint public_ip, base::Rng& rng, base::Duration timeout = std::chrono::seconds(120))
        : kind_{kind}, public_{public_ip}, rng_{rng}, timeout_{timeout} {}

    NatKind kind() const { return kind_; }
    const base::Endpoint& public_ip() const { return public_; }
    void set_timeout(base::Duration t) { timeout_ = t; }

    // A host behind the NAT sends from `inside` to `to`: the source the world sees.
    base::Endpoint outbound(const base::Endpoint& inside, const base::Endpoint& to, base::TimePoint now) {
        if (kind_ == NatKind::firewall) {
            admit_[{inside.port, to}] = now + timeout_;
            return inside;
        }
        base::Endpoint key = kind_ == NatKind::symmetric ? to : base::Endpoint{};
        auto it = map_.find({inside, key});
        uint16_t port;
        if (it != map_.end() && now < it->second.expires) {
            port = it->second.port;
        } else {
            // Port-preserving when free (as Linux masquerade), else another; symmetric: random.
            port = kind_ == NatKind::symmetric ? random_port() : inside.port;
            while (used(port, now)) port = random_port();
            map_[{inside, key}] = {port, now + timeout_};
            back_[port] = inside;
        }
        map_[{inside, key}].expires = now + timeout_;
        admit_[{port, to}] = now + timeout_;
        base::Endpoint out = public_;
        out.port = port;
        return out;
    }

    // A packet from `from` to `port` of the public address (or, for a firewall, to the host's own
    // address): the host inside it goes to, or nothing when the NAT drops it.
    std::optional<base::Endpoint> inbound(const base::Endpoint& from, uint16_t port, base::TimePoint now) {
        if (kind_ == NatKind::firewall) return std::nullopt;  // no translation: see firewall_admits
        auto b = back_.find(port);
        if (b == back_.end()) return std::nullopt;
        bool mapped = false;
        for (auto& [k, m] : map_)
            if (k.first == b->second && m.port == port && now < m.expires) mapped = true;
        if (!mapped) return std::nullopt;
        switch (kind_) {
            case NatKind::full_cone: return b->second;
            case NatKind::restricted:
                for (auto& [k, t] : admit_)
                    if (k.first == port && now < t && k.second.family == from.family && k.second.addr == from.addr)
                        return b->second;
                return std::nullopt;
            default: return allowed_exact(port, from, now) ? std::optional{b->second} : std::nullopt;
        }
    }
    // For a firewall: may `from` reach the host's `port`?
    bool firewall_admits(uint16_t port, const base::Endpoint& from, base::TimePoint now) const {
        return allowed_exact(port, from, now);
    }
    uint64_t dropped = 0;

private:
    struct Mapping {
        uint16_t port;
        base::TimePoint expires;
    };
    bool allowed_exact(uint16_t port, const base::Endpoint& from, base::TimePoint now) const {
        auto it = admit_.find({port, from});
        return it != admit_.end() && now < it->second;
    }
    bool used(uint16_t port, base::TimePoint now) const {
        for (auto& [k, m] : map_)
            if (m.port == port && now < m.expires) return true;
        return false;
    }
    uint16_t random_port() { return static_cast<uint16_t>(1024 + rng_.uniform(64000)); }

    NatKind kind_;
    base::Endpoint public_;
    base::Rng& rng_;
    base::Duration timeout_;
    std::map<std::pair<base::Endpoint, base::Endpoint>, Mapping> map_;  // (inside, destination or {}) -> port
    std::map<uint16_t, base::Endpoint> back_;                           // port -> inside
    std::map<std::pair<uint16_t, base::Endpoint>, base::TimePoint> admit_;  // (port, remote) -> until
};

inline const char* nat_kind_name(NatKind k) {
    switch (k) {
        case NatKind::full_cone: return "full-cone";
        case NatKind::restricted: return "restricted";
        case NatKind::port_restricted: return "port-restricted";
        case NatKind::symmetric: return "symmetric";
        case NatKind::firewall: return "firewall";
    }
    return "?";
}

}  // namespace sim
