// The connector's lifecycle ends: shutdown, and a move to another network (PROTOCOL.md §16.10).
#include "session/connector.hpp"

namespace session {

void Connector::clear(base::TimePoint now) {
    for (auto& [k, p] : peers_) {
        end_punches(p, now);
        if (!p.attempt && p.waiters.empty()) continue;
        for (LinkId l : p.attempt ? p.attempt->open : std::set<LinkId>{}) io_.cancel(l);
        ConnectReport r = p.attempt ? report_of(*p.attempt, now) : ConnectReport{};
        r.status = base::Status{base::Errc::unavailable, "shutting down"};
        p.attempt.reset();
        report(p, r);
    }
    peers_.clear();
}

// Our addresses changed: an attempt in progress offered candidates and punches from a network we
// left, so its paths can only fail. Every attempt is abandoned (its links cancelled, its punching
// ended) and started again now, keeping its waiters; every peer still wanted is reached again at
// once, without backoff: the failures counted were the old network's.
void Connector::network_changed(base::TimePoint now) {
    std::vector<PublicKey> again;
    for (auto& [k, p] : peers_) {
        end_punches(p, now);
        p.answered.reset();
        p.failures = 0;
        p.upgrades = 0;
        p.relayed = false;
        if (p.attempt) {
            for (LinkId l : p.attempt->open) io_.cancel(l);
            p.attempt.reset();
        }
        if (!p.waiters.empty() || p.wants != 0) again.push_back(k);
    }
    for (auto& k : again) {
        auto it = peers_.find(k);
        if (it == peers_.end() || it->second.attempt || io_.connected(k)) continue;
        start_attempt(k, it->second, std::nullopt, now);
    }
}

}  // namespace session
