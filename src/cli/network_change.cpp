// A laptop moves from home Wi-Fi to a phone hotspot (PROTOCOL.md §16.10): its addresses change,
// and with them its NAT. The runtime polls the interface addresses (cheap: one getifaddrs) and, on
// a change, has every part redo what depended on the old network: the NAT analysis starts over
// and the presence holders hear the new endpoint (dht::Node), the port mapping is asked of the new
// router, LAN discovery rejoins its group on the new interface, and every session is ended and
// redialled at once (SessionHost), so that both ends are on the new path within seconds.
#include <algorithm>

#include "cli/runtime.hpp"

namespace cli {

void Runtime::watch_network() {
    auto t = net::Timer::make(loop_, [this] {
        check_network();
        if (net_timer_) net_timer_->start(kNetworkPollMs);
    });
    if (!t) {
        KC_LOG(log_, warn, "node", "not watching for network changes: %s", t.status().detail().c_str());
        return;
    }
    net_timer_ = std::move(*t);
    known_addresses_ = interface_endpoints();
    std::sort(known_addresses_.begin(), known_addresses_.end());
    net_timer_->start(kNetworkPollMs);
}

void Runtime::check_network() {
    if (stopped_ || !host_) return;
    auto now_eps = interface_endpoints();
    std::sort(now_eps.begin(), now_eps.end());
    if (now_eps == known_addresses_) return;
    auto list = [](const std::vector<base::Endpoint>& eps) {
        std::string s;
        for (auto& e : eps)
            if (!e.is_loopback()) s += (s.empty() ? "" : ", ") + e.address_string();
        return s.empty() ? std::string{"none"} : s;
    };
    KC_LOG(log_, info, "node", "network changed: addresses %s -> %s; checking the NAT again and redialling sessions",
           list(known_addresses_).c_str(), list(now_eps).c_str());
    known_addresses_ = now_eps;
    auto now = base::steady_now();
    node().set_local_addresses(now_eps);
    node().network_changed(now);
    if (port_map_) port_map_->network_changed();
    if (lan_) {
        // Its group membership was on an interface that may be gone.
        lan_.reset();
        auto lan = LanHost::start(loop_, *turn_, recv_buf_, *host_, log_, kLanGroup, host_->local_endpoints().front().port);
        if (lan) lan_ = std::move(*lan);
    }
    if (sessions_) sessions_->network_changed();
}

}  // namespace cli
