#include "net/session_manager.hpp"

#include <algorithm>
#include <chrono>

#include "base/hex.hpp"

namespace net {

namespace {
std::string short_id(const crypto::PublicKey& k) { return base::to_hex(std::span{k}.first(4)); }

uint64_t wall_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

// Reasons that end a session on purpose: no automatic reconnect after them.
bool deliberate(const std::string& reason) {
    return reason == "idle" || reason.rfind("disconnect", 0) == 0 || reason.rfind("duplicate", 0) == 0 ||
           reason.rfind("shutdown", 0) == 0 || reason.rfind("peer closed: idle", 0) == 0;
}

// The category a close reason is counted under in stats (free text would not aggregate).
std::string reason_key(const std::string& r) {
    auto colon = r.find(':');
    return colon == std::string::npos ? r : r.substr(0, colon);
}
}  // namespace

SessionManager::SessionManager(Loop& loop, const crypto::SessionKeys& keys, base::Rng& rng, base::Logger& log,
                               SessionManagerConfig cfg)
    : loop_{loop}, keys_{keys}, rng_{rng}, log_{log}, cfg_{cfg}, jar_{rng, base::steady_now()} {
    auto t = Timer::make(loop_, [this] { on_timer(); });
    if (t) timer_ = std::move(*t);
}

SessionManager::~SessionManager() {
    on_closed = nullptr;
    on_message = nullptr;
    on_established = nullptr;
    on_writable = nullptr;
    for (auto& [id, c] : conns_) c->tcp.reset();
}

base::Status SessionManager::listen(const base::Endpoint& at) {
    auto l = TcpListener::listen(loop_, at, [this](std::unique_ptr<TcpConnection> c) { on_accept(std::move(c)); });
    if (!l) return l.status();
    KC_LOG(log_, info, "session", "accepting sessions on tcp %s", (*l)->local().to_string().c_str());
    listeners_.push_back(std::move(*l));
    return {};
}

std::vector<base::Endpoint> SessionManager::listening() const {
    std::vector<base::Endpoint> out;
    for (auto& l : listeners_) out.push_back(l->local());
    return out;
}

crypto::ResponderContext SessionManager::responder_context() {
    crypto::ResponderContext ctx;
    ctx.jar = &jar_;
    ctx.under_load = [this] {
        bool load = under_load(base::steady_now());
        ++inits_in_window_;
        return load;
    };
    ctx.fresh_init = [this](const PublicKey& peer, uint64_t ts) {
        auto it = init_timestamps_.find(peer);
        if (it != init_timestamps_.end() && ts <= it->second) return false;
        if (init_timestamps_.size() > 10000) init_timestamps_.clear();  // bounded; see PROTOCOL.md
        init_timestamps_[peer] = ts;
        return true;
    };
    return ctx;
}

bool SessionManager::under_load(base::TimePoint now) {
    if (now - load_window_ >= std::chrono::seconds(1)) {
        load_window_ = now;
        inits_in_window_ = 0;
    }
    return inits_in_window_ >= cfg_.load_inits_per_s;
}

SessionManager::Conn& SessionManager::add_conn(std::unique_ptr<TcpConnection> tcp, bool outbound,
                                               base::TimePoint now) {
    auto c = std::make_unique<Conn>();
    c->id = next_id_++;
    c->tcp = std::move(tcp);
    c->outbound = outbound;
    c->remote = c->tcp->remote();
    c->since = now;
    Conn& ref = *c;
    conns_.emplace(c->id, std::move(c));
    return ref;
}

void SessionManager::connect(const PublicKey& peer, const base::Endpoint& at, Done done) {
    auto now = base::steady_now();
    auto& w = wanted_[peer];
    w.at = at;
    if (live_.count(peer)) {
        done({});
        return;
    }
    waiters_[peer].push_back(std::move(done));
    for (auto& [id, c] : conns_)
        if (c->outbound && !c->dead && c->linger_until == base::kNever && c->dialed == peer) return;  // dialing
    start_outbound(peer, at, now);
}

void SessionManager::start_outbound(const PublicKey& peer, const base::Endpoint& at, base::TimePoint now) {
    if (peer == keys_.identity.public_key) {
        finish_waiters(peer, base::invalid_argument("cannot open a session to ourselves"));
        wanted_.erase(peer);
        return;
    }
    ++stats_.outbound;
    uint64_t id = next_id_;  // the id add_conn will give
    auto tcp = TcpConnection::connect(loop_, at, [this, id, peer](base::Status st) {
        auto now = base::steady_now();
        Conn* c = find(id);
        if (!c) return;
        if (!st.ok()) {
            ++stats_.connect_failures;
            end(*c, "connect failed: " + st.detail(), now, false);
            return;
        }
        wire(*c);
        flush(*c);
    });
    if (!tcp) {
        ++stats_.connect_failures;
        attempt_failed(peer, "connect failed: " + tcp.status().detail(), now);
        return;
    }
    Conn& c = add_conn(std::move(*tcp), true, now);
    c.dialed = peer;
    c.remote = at;
    uint64_t ts = std::max(wall_ms(), last_init_ms_ + 1);
    last_init_ms_ = ts;
    auto s = crypto::Session::connect(keys_, peer, crypto::Session::Mode::stream, rng_, cfg_.session, now, ts);
    if (!s) {
        end(c, "cannot start a handshake: " + s.status().detail(), now, false);
        return;
    }
    c.session = std::move(*s);  // its init waits in the session's output until connected
    KC_LOG(log_, debug, "session", "dialing %s at %s", short_id(peer).c_str(), at.to_string().c_str());
    rearm(now);
}

void SessionManager::on_accept(std::unique_ptr<TcpConnection> tcp) {
    auto now = base::steady_now();
    if (conns_.size() >= cfg_.max_connections) {
        ++stats_.refused;
        return;  // tcp closes as it goes out of scope
    }
    ++stats_.inbound;
    Conn& c = add_conn(std::move(tcp), false, now);
    std::string src = c.remote.to_string();
    c.session = crypto::Session::accept(keys_, responder_context(), crypto::Session::Mode::stream, rng_, cfg_.session,
                                        now, std::vector<uint8_t>(src.begin(), src.end()));
    wire(c);
    rearm(now);
}

// A connected socket's callbacks: bytes to the session, written buffers back to it for reuse,
// and an emptied queue either ends a lingering close or tells the owner it may send again; so does
// a queue that falls below low water, so a bulk sender refills before the socket runs dry.
void SessionManager::wire(Conn& c) {
    uint64_t id = c.id;
    c.tcp->start([this, id](std::span<const uint8_t> b) { on_bytes(id, b); },
                 [this, id](const std::string& why) { on_tcp_closed(id, why); });
    c.tcp->on_written = [this, id](std::vector<uint8_t>&& b) {
        if (Conn* c = find(id); c && c->session) c->session->recycle(std::move(b));
    };
    c.tcp->on_drain = [this, id] {
        Conn* c = find(id);
        if (c && c->linger_until != base::kNever) {
            end(*c, c->session ? c->session->close_reason() : "closed", base::steady_now(), false);
        } else if (c && c->session && c->session->peer_known() && on_writable) {
            on_writable(c->session->peer());
        }
    };
    c.tcp->set_low_water(cfg_.low_water);
    c.tcp->on_low = [this, id] {
        Conn* c = find(id);
        if (c && c->linger_until == base::kNever && c->session && c->session->peer_known() && on_writable)
            on_writable(c->session->peer());
    };
}

SessionManager::Conn* SessionManager::find(uint64_t id) {
    auto it = conns_.find(id);
    return it == conns_.end() || it->second->dead ? nullptr : it->second.get();
}

void SessionManager::on_bytes(uint64_t id, std::span<const uint8_t> bytes) {
    Conn* c = find(id);
    if (!c || !c->session) return;
    auto now = base::steady_now();
    c->session->receive(bytes, now);
    drive(*c, now);
}

void SessionManager::on_tcp_closed(uint64_t id, const std::string& why) {
    Conn* c = find(id);
    if (!c) return;
    std::string reason = why;
    if (c->session && c->session->state() == crypto::Session::State::closed) reason = c->session->close_reason();
    end(*c, reason, base::steady_now(), false);
}

void SessionManager::drive(Conn& c, base::TimePoint now) {
    ++corked_;
    for (auto& e : c.session->take_events()) {
        switch (e.type) {
            case crypto::Session::Event::Type::established:
                established(c, now);
                break;
            case crypto::Session::Event::Type::data:
                if (on_message && !c.dead) on_message(c.session->peer(), e.payload());
                c.session->recycle_event_buffer(std::move(e.data));
                break;
            case crypto::Session::Event::Type::closed:
                break;
        }
    }
    c.dirty = true;
    uncork();
    if (!c.dead && c.session->state() == crypto::Session::State::closed) end(c, c.session->close_reason(), now, true);
    rearm(now);
}

void SessionManager::flush(Conn& c) {
    c.dirty = false;
    if (c.dead || !c.tcp || !c.tcp->connected() || !c.session) return;
    auto bytes = c.session->take_stream_bytes();
    if (!bytes.empty()) c.tcp->write(std::move(bytes));
}

void SessionManager::uncork() {
    if (corked_ > 0) --corked_;
    if (corked_ > 0) return;
    for (auto& [id, c] : conns_)
        if (c->dirty) flush(*c);
}

namespace {
constexpr base::Duration kSimultaneousWindow = std::chrono::seconds(3);
}

void SessionManager::established(Conn& c, base::TimePoint now) {
    const PublicKey& peer = c.session->peer();
    ++stats_.established;
    auto it = live_.find(peer);
    if (it != live_.end() && it->second != c.id) {
        Conn* other = find(it->second);
        if (other) {
            // Both ends apply the same rule: keep the session whose initiator has the smaller
            // key. Two sessions started by the same side (a reconnect racing a dying session):
            // keep the newer.
            const PublicKey& me = keys_.identity.public_key;
            const PublicKey& init_c = c.outbound ? me : peer;
            const PublicKey& init_o = other->outbound ? me : peer;
            bool keep_c = init_c == init_o ? true : init_c < init_o;
            // A handshake for a new session while an old one is live, and not at the same
            // moment: the peer restarted (kill -9 leaves our side of the old one open until
            // keepalives fail) or lost it. The new one is the one that works.
            if (now - other->since > kSimultaneousWindow) keep_c = true;
            Conn& loser = keep_c ? *other : c;
            ++stats_.duplicates_closed;
            KC_LOG(log_, debug, "session", "two sessions with %s: keeping the one %s started", short_id(peer).c_str(),
                   short_id(keep_c ? init_c : init_o).c_str());
            if (keep_c) {
                live_[peer] = c.id;
                end(loser, "duplicate session (tie-break)", now, true);
            } else {
                end(loser, "duplicate session (tie-break)", now, true);
                return;
            }
        } else {
            live_[peer] = c.id;
        }
    } else {
        live_[peer] = c.id;
    }
    auto w = wanted_.find(peer);
    if (w != wanted_.end()) {
        w->second.failures = 0;
        w->second.retry_at = base::kNever;
    }
    KC_LOG(log_, info, "session", "session with %s over tcp %s (%s)", short_id(peer).c_str(),
           c.remote.to_string().c_str(), c.outbound ? "we dialed" : "they dialed");
    finish_waiters(peer, {});
    if (on_established) on_established(peer);
}

void SessionManager::finish_waiters(const PublicKey& peer, const base::Status& st) {
    auto it = waiters_.find(peer);
    if (it == waiters_.end()) return;
    auto ws = std::move(it->second);
    waiters_.erase(it);
    for (auto& w : ws) w(st);
}

void SessionManager::attempt_failed(const PublicKey& peer, const std::string& why, base::TimePoint now) {
    // Another attempt may still be on its way (an inbound handshake, say).
    for (auto& [id, c] : conns_)
        if (!c->dead && c->linger_until == base::kNever && ((c->outbound && c->dialed == peer) ||
                         (c->session && c->session->peer_known() && c->session->peer() == peer)))
            return;
    finish_waiters(peer, base::Status{base::Errc::unavailable, why});
    auto w = wanted_.find(peer);
    if (w == wanted_.end()) return;
    ++w->second.failures;
    auto backoff = cfg_.reconnect_min * (1 << std::min(w->second.failures - 1, 16));
    w->second.retry_at = now + std::min(backoff, cfg_.reconnect_max);
}

void SessionManager::end(Conn& c, const std::string& reason, base::TimePoint now, bool linger) {
    if (c.dead) return;
    if (c.linger_until != base::kNever) {
        // The second call for a lingering connection: everything was reported the first time.
        c.dead = true;
    } else {
        bool was_live = false;
        PublicKey peer{};
        bool known = c.session && c.session->peer_known();
        if (known) {
            peer = c.session->peer();
            auto it = live_.find(peer);
            if (it != live_.end() && it->second == c.id) {
                live_.erase(it);
                was_live = true;
            }
        } else if (c.outbound) {
            peer = c.dialed;
            known = true;
        }
        if (c.session && c.session->state() != crypto::Session::State::closed) c.session->close(reason, now);
        if (linger && c.tcp && c.tcp->connected()) {
            flush(c);
            // Let the close frame go out; the drain callback or the timer ends the connection.
            if (c.tcp->queued_bytes() > 0) c.linger_until = now + cfg_.close_linger;
        }
        if (c.linger_until == base::kNever) c.dead = true;
        report_end(c, known, peer, was_live, reason, now);
    }
    if (c.dead) {
        auto it = conns_.find(c.id);
        if (it != conns_.end()) {
            graveyard_.push_back(std::move(it->second));
            conns_.erase(it);
        }
    }
    rearm(now);
}

void SessionManager::report_end(const Conn& c, bool known, const PublicKey& peer, bool was_live,
                                const std::string& reason, base::TimePoint now) {
    ++stats_.closed_by_reason[reason_key(reason)];
    // A failure is worth a line in the normal log; a planned close is not.
    if (deliberate(reason)) {
        KC_LOG(log_, debug, "session", "session %s ended: %s", known ? short_id(peer).c_str() : "(unknown peer)",
               reason.c_str());
    } else {
        KC_LOG(log_, info, "session", "session %s with %s ended: %s", known ? short_id(peer).c_str() : "(unknown peer)",
               c.remote.to_string().c_str(), reason.c_str());
    }
    if (was_live && on_closed) on_closed(peer, reason);
    if (known && !was_live) attempt_failed(peer, reason, now);
    if (was_live && !deliberate(reason)) {
        auto w = wanted_.find(peer);
        if (w != wanted_.end()) w->second.retry_at = now + cfg_.reconnect_min;
    }
}

base::Status SessionManager::send(const PublicKey& peer, std::span<const uint8_t> payload) {
    auto it = live_.find(peer);
    if (it == live_.end()) return base::Status{base::Errc::unavailable, "no session with this peer"};
    Conn* c = find(it->second);
    if (!c) return base::Status{base::Errc::unavailable, "no session with this peer"};
    if (c->tcp->queued_bytes() >= cfg_.high_water)
        return base::Status{base::Errc::limit, "peer is not reading fast enough"};
    auto now = base::steady_now();
    auto st = c->session->send(payload, now);
    if (!st.ok()) return st;
    if (corked_ > 0) {
        c->dirty = true;
    } else {
        flush(*c);
    }
    return {};
}

size_t SessionManager::queued_bytes(const PublicKey& peer) const {
    auto it = live_.find(peer);
    if (it == live_.end()) return 0;
    auto c = conns_.find(it->second);
    return c == conns_.end() ? 0 : c->second->tcp->queued_bytes();
}

void SessionManager::disconnect(const PublicKey& peer, const std::string& reason) {
    wanted_.erase(peer);
    auto now = base::steady_now();
    auto it = live_.find(peer);
    if (it == live_.end()) return;
    if (Conn* c = find(it->second)) end(*c, "disconnect: " + reason, now, true);
}

void SessionManager::close_all(const std::string& reason) {
    wanted_.clear();
    auto now = base::steady_now();
    std::vector<uint64_t> ids;
    for (auto& [id, c] : conns_) ids.push_back(id);
    for (auto id : ids)
        if (Conn* c = find(id)) end(*c, "shutdown: " + reason, now, false);
    for (auto& [peer, ws] : waiters_)
        for (auto& w : ws) w(base::Status{base::Errc::unavailable, "shutting down"});
    waiters_.clear();
    listeners_.clear();
    graveyard_.clear();
    timer_.reset();
}

std::vector<SessionManager::PeerInfo> SessionManager::peers(base::TimePoint now) const {
    std::vector<PeerInfo> out;
    for (auto& [peer, id] : live_) {
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        const Conn& c = *it->second;
        PeerInfo p;
        p.peer = peer;
        p.remote = c.remote;
        p.initiator = c.outbound;
        p.age = now - c.since;
        p.rtt = c.session->rtt();
        p.bytes_in = c.session->bytes_in();
        p.bytes_out = c.session->bytes_out();
        p.frames_in = c.session->frames_in();
        p.frames_out = c.session->frames_out();
        out.push_back(p);
    }
    return out;
}

void SessionManager::on_timer() {
    graveyard_.clear();
    auto now = base::steady_now();
    std::vector<uint64_t> ids;
    for (auto& [id, c] : conns_) ids.push_back(id);
    for (auto id : ids) {
        Conn* c = find(id);
        if (!c) continue;
        if (c->linger_until != base::kNever) {
            if (now >= c->linger_until) end(*c, c->session->close_reason(), now, false);
            continue;
        }
        if (!c->session) continue;
        c->session->tick(now);
        drive(*c, now);
    }
    for (auto& [peer, w] : wanted_) {
        if (w.retry_at == base::kNever || now < w.retry_at) continue;
        // Due: clear the retry first, whatever happens. Left in the past it would re-arm the timer
        // at 0 ms on every run, a busy loop that (libuv 1.44) starves all I/O until the attempt in
        // progress ends. That attempt's end (attempt_failed, established) schedules what follows.
        w.retry_at = base::kNever;
        if (live_.count(peer)) continue;
        bool dialing = false;
        for (auto& [id, c] : conns_)
            dialing |= c->outbound && !c->dead && c->linger_until == base::kNever && c->dialed == peer;
        if (dialing) continue;
        ++stats_.reconnects;
        KC_LOG(log_, debug, "session", "reconnecting to %s (attempt %d)", short_id(peer).c_str(), w.failures + 1);
        start_outbound(peer, w.at, now);
        break;  // start_outbound may modify wanted_ (ourselves): one per tick, the timer comes back
    }
    rearm(now);
}

void SessionManager::rearm(base::TimePoint now) {
    if (!timer_) return;
    base::TimePoint next = base::kNever;
    if (!graveyard_.empty()) next = now;
    for (auto& [id, c] : conns_) {
        if (c->dead) continue;
        if (c->linger_until != base::kNever) {
            next = std::min(next, c->linger_until);
            continue;
        }
        if (c->session) {
            // tick() is cheap and idempotent; ask it for the deadline without acting on it.
            next = std::min(next, now + std::chrono::seconds(1));
        }
    }
    for (auto& [peer, w] : wanted_) next = std::min(next, w.retry_at);
    if (next == base::kNever) {
        timer_->stop();
        return;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    timer_->start(static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
}

}  // namespace net
