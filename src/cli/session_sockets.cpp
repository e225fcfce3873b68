// The extra UDP sockets of birthday attempts (PROTOCOL.md §16.9). The connector asks for them one
// at a time, at its packet rate, and gives them back when the attempt ends; the host also closes
// each one when its lifetime is up, so a socket is never left open by a forgotten attempt. A
// socket a session runs on stays until that session's link closes: it is the path.
#include "cli/session_host.hpp"

namespace cli {

namespace {
// More than one attempt's worth, for the moment when one attempt ends and its sockets are still
// being given back as another begins; far below the descriptor limit.
constexpr size_t kMaxExtraSockets = 300;
}  // namespace

session::SocketId SessionHost::open_socket(base::Duration lifetime) {
    if (closing_ || !dht_ || extra_.size() >= kMaxExtraSockets) return 0;
    auto locals = dht_->local_endpoints();
    if (locals.empty()) return 0;
    session::SocketId id = next_socket_++;
    auto s = dht_->bind_extra(locals.front().family,
                              [this, id](const base::Endpoint& from, std::span<const uint8_t> d) {
                                  if (!on_datagram(from, d, id)) ++datagrams_dropped_;
                              });
    if (!s) {
        KC_LOG(log_, info, "session", "cannot open a socket for a birthday attempt: %s", s.status().detail().c_str());
        return 0;
    }
    Extra& e = extra_[id];
    e.socket = std::move(*s);
    e.until = base::steady_now() + lifetime;
    if (core_) core_->mark();
    return id;
}

void SessionHost::close_socket(session::SocketId s) {
    auto it = extra_.find(s);
    if (it == extra_.end()) return;
    it->second.released = true;
    retire_socket_if_unused(s);
}

// Closed (outside any of its callbacks: the next loop turn frees it) once the connector is done
// with it or its time is up, and no link uses it.
void SessionHost::retire_socket_if_unused(session::SocketId s) {
    auto it = extra_.find(s);
    if (it == extra_.end()) return;
    if (!it->second.released && base::steady_now() < it->second.until) return;
    for (auto& [id, path] : udp_)
        if (path.sock == s) return;
    dead_sockets_.push_back(std::move(it->second.socket));
    extra_.erase(it);
    if (core_) core_->mark();
}

base::TimePoint SessionHost::expire_sockets(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    std::vector<session::SocketId> due;
    for (auto& [id, e] : extra_) {
        if (now >= e.until) due.push_back(id);
        else next = std::min(next, e.until);
    }
    for (auto id : due) retire_socket_if_unused(id);
    return next;
}

void SessionHost::send_on(session::SocketId s, const base::Endpoint& to, std::span<const uint8_t> d) {
    if (s == 0) {
        if (dht_) dht_->send(to, d);
        return;
    }
    auto it = extra_.find(s);
    if (it != extra_.end() && it->second.socket) it->second.socket->send(to, d);
}

session::NatInfo SessionHost::own_nat() {
    session::NatInfo out;
    if (!dht_ || !dht_->started()) return out;
    const dht::NatAnalysis& nat = dht_->peek().nat();
    switch (nat.mapping()) {
        case dht::Mapping::none: out.mapping = session::NatMapping::none; break;
        case dht::Mapping::independent: out.mapping = session::NatMapping::independent; break;
        case dht::Mapping::dependent: out.mapping = session::NatMapping::dependent; break;
        case dht::Mapping::unknown: break;
    }
    out.filtered = nat.filtering() == dht::Filtering::filtered;
    return out;
}

}  // namespace cli
