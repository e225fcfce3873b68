// The connector's relay paths (PROTOCOL.md §17.5): a circuit opened at once next to the
// punching, the next relay if one fails, and a session on a relay that answers the waiters while
// the attempt goes on for a direct path.
#include "base/hex.hpp"
#include "session/connector.hpp"

namespace session {

bool Connector::open_relay(const PublicKey& key, Peer& p, base::TimePoint now) {
    Attempt& a = *p.attempt;
    while (!a.relays.empty()) {
        Rendezvous v = a.relays.front();
        a.relays.erase(a.relays.begin());
        Try t;
        t.to = v.endpoint;
        t.path = Path::relay;
        t.method = Method::relay;
        t.at = now - a.started;
        t.link = io_.open_relay(key, v);
        if (t.link == 0) t.outcome = "could not start";
        a.tried.push_back(t);
        if (t.link == 0) continue;
        a.open.insert(t.link);
        a.relay_links.insert(t.link);
        a.relay_of[t.link] = v;
        return true;
    }
    return false;
}

// The relayed session of an attempt still looking for a direct path is gone (the user
// disconnected, the relay closed it): the attempt has reached nobody any more. Its relay goes back
// on the list, to be opened again for whoever still wants the peer, now or when someone asks
// (connect() joining this attempt), rather than the attempt ending in "no direct path" while a
// relay works.
void Connector::relay_session_lost(Attempt& a) {
    a.relayed = false;
    if (a.relay_used) a.relays.insert(a.relays.begin(), *a.relay_used);
    a.relay_used.reset();
}

// An attempt past its lookup with no relayed session and no circuit in flight: the next relay on
// its list (if any) may be opened.
bool Connector::relay_lost(const Attempt& a) {
    return (a.phase == Attempt::Phase::rendezvous || a.phase == Attempt::Phase::paths) && !a.relayed &&
           a.relay_links.empty() && !a.relays.empty();
}

void Connector::relay_up(const PublicKey& key, Peer& p, const LinkInfo& link, base::TimePoint now) {
    Attempt& a = *p.attempt;
    a.open.erase(link.id);
    a.relay_links.erase(link.id);
    for (auto& t : a.tried)
        if (t.link == link.id && link.id != 0) {
            t.outcome = "up";
            t.took = now - a.started - t.at;
        }
    if (a.relayed) return;
    a.relayed = true;
    if (auto it = a.relay_of.find(link.id); it != a.relay_of.end()) a.relay_used = it->second;
    ++stats_.relayed;
    if (!p.waiters.empty()) p.wants |= static_cast<uint8_t>(Want::user);
    ConnectReport r = report_of(a, now);
    r.link = link;
    KC_LOG(log_, info, "connect", "reached %s in %.0f ms over a relay; still trying for a direct path",
           short_id(key).c_str(), base::to_ms(r.total));
    report(p, r);
    maybe_fail(key, p, "no direct path", now);  // (if the punching is already over)
}

}  // namespace session
