#include "session/connector.hpp"

#include <algorithm>

#include "base/hex.hpp"

namespace session {

namespace {
std::string short_id(const PublicKey& k) { return base::to_hex(std::span{k}.first(4)); }
}  // namespace

Connector::Connector(ConnectorIo& io, base::Rng& rng, base::Logger& log, ConnectorConfig cfg)
    : io_{io}, rng_{rng}, log_{log}, cfg_{cfg} {}

bool Connector::wanted(const PublicKey& peer) const {
    auto it = peers_.find(peer);
    return it != peers_.end() && it->second.wants != 0;
}

bool Connector::attempting(const PublicKey& peer) const {
    auto it = peers_.find(peer);
    return it != peers_.end() && it->second.attempt.has_value();
}

void Connector::want(const PublicKey& peer, Want why, base::TimePoint now) {
    Peer& p = peers_[peer];
    p.wants |= static_cast<uint8_t>(why);
    if (io_.connected(peer) || p.attempt || now < p.retry_at) return;
    start_attempt(peer, p, std::nullopt, now);
}

void Connector::release(const PublicKey& peer, Want why, base::TimePoint) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    it->second.wants &= static_cast<uint8_t>(~static_cast<uint8_t>(why));
    forget_if_idle(peer);
}

void Connector::connect(const PublicKey& peer, std::optional<base::Endpoint> via, ConnectDone done,
                        base::TimePoint now) {
    Peer& p = peers_[peer];
    if (io_.connected(peer)) {
        p.wants |= static_cast<uint8_t>(Want::user);
        ConnectReport r;
        done(r);
        return;
    }
    p.waiters.push_back(std::move(done));
    if (via) p.hint = via;
    if (p.attempt) {
        // A user-given address joins the attempt in progress as one more path.
        if (via && p.attempt->phase == Attempt::Phase::paths) dial(peer, p, *via, Method::dial, false, now);
        return;
    }
    start_attempt(peer, p, via, now);  // the user asked: no waiting out a backoff
}

void Connector::start_attempt(const PublicKey& key, Peer& p, std::optional<base::Endpoint> via, base::TimePoint now) {
    ++stats_.attempts;
    p.attempt.emplace();
    Attempt& a = *p.attempt;
    a.started = now;
    if (!via) via = p.hint;
    a.via = via;
    p.retry_at = base::kNever;
    io_.attempting(key);
    if (!p.attempt) return;  // (the owner may have stopped us)
    if (via) {
        a.phase = Attempt::Phase::paths;
        dial(key, p, *via, Method::dial, false, now);
        return;
    }
    if (!io_.can_look_up()) {
        a.phase = Attempt::Phase::waiting_dht;
        return;
    }
    a.phase = Attempt::Phase::lookup;
    io_.look_up(key);
}

void Connector::dial(const PublicKey& key, Peer& p, const base::Endpoint& to, Method method, bool simultaneous,
                     base::TimePoint now) {
    Attempt& a = *p.attempt;
    Try t;
    t.to = to;
    t.path = Path::tcp;
    t.method = method;
    t.at = now - a.started;
    t.link = io_.dial(key, to, method, simultaneous);
    if (t.link == 0) t.outcome = "could not start";
    a.tried.push_back(t);
    if (t.link != 0) a.open.insert(t.link);
    if (a.open.empty()) fail(key, p, "cannot dial " + to.to_string(), now);
}

void Connector::on_lookup(const PublicKey& peer, const PeerLookup& r, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.attempt || it->second.attempt->phase != Attempt::Phase::lookup) return;
    Peer& p = it->second;
    Attempt& a = *p.attempt;
    a.lookup = now - a.started;
    a.phase = Attempt::Phase::paths;
    if (r.found) return dial(peer, p, r.endpoint, Method::dial, false, now);
    fail(peer, p,
         "peer " + short_id(peer) + " not found in the DHT (" + std::to_string(r.messages) + " queries, " +
             std::to_string(r.answered) + " nodes answered); it may be offline",
         now);
}

void Connector::on_session_up(const PublicKey& peer, const LinkInfo& link, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.failures = 0;
    p.retry_at = base::TimePoint{};
    if (p.attempt) succeed(peer, p, link, now);
}

void Connector::succeed(const PublicKey& key, Peer& p, const LinkInfo& link, base::TimePoint now) {
    Attempt a = std::move(*p.attempt);
    p.attempt.reset();
    ++stats_.succeeded;
    // A session the user asked for is kept up from now on (redialled if it breaks).
    if (!p.waiters.empty()) p.wants |= static_cast<uint8_t>(Want::user);
    for (auto& t : a.tried) {
        if (t.link == link.id) {
            t.outcome = "up";
            t.took = now - a.started - t.at;
        } else if (t.outcome == "pending") {
            t.outcome = "cancelled";
        }
    }
    for (LinkId l : a.open)
        if (l != link.id) io_.cancel(l);
    ConnectReport r = report_of(a, now);
    r.link = link;
    KC_LOG(log_, debug, "connect", "reached %s in %.0f ms over %s (%s)", short_id(key).c_str(), base::to_ms(r.total),
           path_name(link.path), method_name(link.method));
    report(p, r);
    forget_if_idle(key);
}

void Connector::on_session_closed(const PublicKey& peer, const Closed& why, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    // An idle close (either side) or a disconnect asked for here ends the user's wish; chat
    // speaks for itself.
    if (why.reason == CloseReason::idle || (why.reason == CloseReason::disconnect && !why.by_peer))
        p.wants &= static_cast<uint8_t>(~static_cast<uint8_t>(Want::user));
    if (p.wants != 0 && !deliberate(why) && !p.attempt) {
        ++stats_.redials;
        p.retry_at = now + cfg_.retry_min;
    }
    forget_if_idle(peer);
}

void Connector::on_attempt_failed(const PublicKey& peer, LinkId link, const Closed& why, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.attempt) return;
    Peer& p = it->second;
    Attempt& a = *p.attempt;
    if (!a.open.erase(link)) return;
    for (auto& t : a.tried)
        if (t.link == link) {
            t.outcome = why.to_string();
            t.took = now - a.started - t.at;
        }
    if (a.open.empty() && a.phase == Attempt::Phase::paths) {
        std::string to;
        for (auto& t : a.tried) to += (to.empty() ? "" : ", ") + t.to.to_string();
        fail(peer, p, "cannot open a session with " + to + ": " + why.to_string(), now);
    }
}

void Connector::fail(const PublicKey& key, Peer& p, const std::string& why, base::TimePoint now) {
    Attempt a = std::move(*p.attempt);
    p.attempt.reset();
    ++stats_.failed;
    for (LinkId l : a.open) io_.cancel(l);
    ConnectReport r = report_of(a, now);
    r.status = base::Status{base::Errc::unavailable, why};
    if (p.wants != 0) {
        ++p.failures;
        auto backoff = cfg_.retry_min * (1 << std::min(p.failures - 1, 16));
        backoff = std::min<base::Duration>(backoff, cfg_.retry_max);
        // Up to a tenth more, so that peers that failed together do not retry together.
        backoff += base::Duration{static_cast<int64_t>(rng_.uniform(static_cast<uint64_t>(backoff.count() / 10 + 1)))};
        p.retry_at = now + backoff;
    }
    KC_LOG(log_, info, "connect", "cannot reach %s: %s%s", short_id(key).c_str(), why.c_str(),
           p.wants ? "; will retry" : "");
    report(p, r);
    io_.unreachable(key, why);
    forget_if_idle(key);
}

void Connector::report(Peer& p, const ConnectReport& r) {
    auto waiters = std::move(p.waiters);
    p.waiters.clear();
    for (auto& w : waiters) w(r);
}

ConnectReport Connector::report_of(const Attempt& a, base::TimePoint now) const {
    ConnectReport r;
    r.lookup = a.lookup;
    r.total = now - a.started;
    r.tried = a.tried;
    return r;
}

void Connector::forget_if_idle(const PublicKey& key) {
    auto it = peers_.find(key);
    if (it == peers_.end()) return;
    const Peer& p = it->second;
    if (p.wants == 0 && !p.attempt && p.waiters.empty()) peers_.erase(it);
}

base::TimePoint Connector::tick(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    std::vector<PublicKey> keys;
    keys.reserve(peers_.size());
    for (auto& [k, p] : peers_) keys.push_back(k);
    for (auto& k : keys) {
        auto it = peers_.find(k);
        if (it == peers_.end()) continue;
        Peer& p = it->second;
        if (p.attempt) {
            Attempt& a = *p.attempt;
            if (now - a.started >= cfg_.attempt_timeout) {
                fail(k, p, "no path came up within " + std::to_string(base::to_ms_int(cfg_.attempt_timeout) / 1000) + " s",
                     now);
                continue;
            }
            if (a.phase == Attempt::Phase::waiting_dht) {
                if (io_.can_look_up()) {
                    a.phase = Attempt::Phase::lookup;
                    io_.look_up(k);
                } else {
                    next = std::min(next, now + cfg_.dht_poll);
                }
            }
            if (p.attempt) next = std::min(next, p.attempt->started + cfg_.attempt_timeout);
            continue;
        }
        if (p.wants == 0 || p.retry_at == base::kNever) continue;
        if (io_.connected(k)) continue;
        if (now >= p.retry_at) {
            start_attempt(k, p, std::nullopt, now);
            if (auto again = peers_.find(k); again != peers_.end() && again->second.attempt)
                next = std::min(next, again->second.attempt->started + cfg_.attempt_timeout);
        } else {
            next = std::min(next, p.retry_at);
        }
    }
    return std::max(next, now);
}

void Connector::clear(base::TimePoint now) {
    for (auto& [k, p] : peers_) {
        if (!p.attempt && p.waiters.empty()) continue;
        for (LinkId l : p.attempt ? p.attempt->open : std::set<LinkId>{}) io_.cancel(l);
        ConnectReport r = p.attempt ? report_of(*p.attempt, now) : ConnectReport{};
        r.status = base::Status{base::Errc::unavailable, "shutting down"};
        p.attempt.reset();
        report(p, r);
    }
    peers_.clear();
}

}  // namespace session
