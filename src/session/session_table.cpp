#include "session/session_table.hpp"

#include <algorithm>

#include "base/hex.hpp"

namespace session {

SessionTable::SessionTable(const crypto::SessionKeys& keys, base::Rng& rng, base::Logger& log, LinkIo& io,
                           SessionEvents& events, TableConfig cfg, base::TimePoint now, uint64_t wall_ms)
    : keys_{keys},
      rng_{rng},
      log_{log},
      io_{io},
      events_{events},
      cfg_{cfg},
      origin_{now},
      wall_origin_ms_{wall_ms},
      now_{now},
      jar_{rng, now} {}

SessionTable::~SessionTable() = default;

uint64_t SessionTable::wall_ms(base::TimePoint now) const {
    return wall_origin_ms_ + static_cast<uint64_t>(std::max<int64_t>(base::to_ms_int(now - origin_), 0));
}

SessionTable::Link* SessionTable::find(LinkId id) {
    auto it = links_.find(id);
    return it == links_.end() ? nullptr : it->second.get();
}
const SessionTable::Link* SessionTable::find(LinkId id) const {
    auto it = links_.find(id);
    return it == links_.end() ? nullptr : it->second.get();
}

crypto::ResponderContext SessionTable::responder_context() {
    crypto::ResponderContext ctx;
    ctx.jar = &jar_;
    ctx.under_load = [this] {
        bool load = under_load();
        ++inits_in_window_;
        if (load) ++stats_.cookies_sent;
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

bool SessionTable::under_load() {
    if (now_ - load_window_ >= std::chrono::seconds(1)) {
        load_window_ = now_;
        inits_in_window_ = 0;
    }
    return inits_in_window_ >= cfg_.load_inits_per_s;
}

base::Status SessionTable::open_outbound(LinkId id, Path path, const PublicKey& peer, const base::Endpoint& remote,
                                         Method method, base::TimePoint now, bool simultaneous) {
    now_ = now;
    if (links_.count(id)) return base::Status{base::Errc::exists, "link already open"};
    if (peer == keys_.identity.public_key)
        return base::invalid_argument("cannot open a session to ourselves");
    ++stats_.outbound;
    auto l = std::make_unique<Link>();
    l->info = {id, path, remote, true, method, std::nullopt};
    l->dialed = peer;
    l->since = now;
    uint64_t ts = std::max(wall_ms(now), last_init_ms_ + 1);
    last_init_ms_ = ts;
    auto mode = path == Path::tcp ? crypto::Session::Mode::stream : crypto::Session::Mode::datagram;
    std::optional<crypto::Session::Yield> yield;
    if (simultaneous) {
        std::string src = remote.to_string();
        yield = crypto::Session::Yield{responder_context(), std::vector<uint8_t>(src.begin(), src.end())};
    }
    auto s = crypto::Session::connect(keys_, peer, mode, rng_, cfg_.session, now, ts, {}, std::move(yield));
    if (!s) return s.status();
    l->session = std::move(*s);
    Link& ref = *l;
    links_.emplace(id, std::move(l));
    KC_LOG(log_, debug, "session", "handshake with %s over %s %s (%s)", short_id(peer).c_str(), path_name(path),
           remote.to_string().c_str(), method_name(method));
    ref.dirty = true;
    flush(ref);
    return {};
}

bool SessionTable::open_inbound(LinkId id, Path path, const base::Endpoint& remote, Method method,
                                base::TimePoint now) {
    now_ = now;
    if (links_.count(id)) return true;
    if (links_.size() >= cfg_.max_links) {
        ++stats_.refused;
        io_.close(id);
        return false;
    }
    ++stats_.inbound;
    auto l = std::make_unique<Link>();
    l->info = {id, path, remote, false, method, std::nullopt};
    l->since = now;
    std::string src = remote.to_string();
    auto mode = path == Path::tcp ? crypto::Session::Mode::stream : crypto::Session::Mode::datagram;
    l->session = crypto::Session::accept(keys_, responder_context(), mode, rng_, cfg_.session, now,
                                         std::vector<uint8_t>(src.begin(), src.end()));
    links_.emplace(id, std::move(l));
    return true;
}

void SessionTable::on_bytes(LinkId id, std::span<const uint8_t> bytes, base::TimePoint now) {
    now_ = now;
    Link* l = find(id);
    if (!l || !l->session || l->linger_until != base::kNever) return;
    l->session->receive(bytes, now);
    drive(*l, now);
}

void SessionTable::on_link_down(LinkId id, const std::string& why, base::TimePoint now) {
    now_ = now;
    Link* l = find(id);
    if (!l) return;
    if (l->linger_until != base::kNever) return finish(id);  // everything was reported already
    end(*l, closed_of(*l, why), now, false);
}

void SessionTable::on_link_writable(LinkId id, bool drained, base::TimePoint now) {
    now_ = now;
    Link* l = find(id);
    if (!l) return;
    if (l->linger_until != base::kNever) {
        if (drained) finish(id);
        return;
    }
    if (l->session && l->session->peer_known()) {
        auto it = live_.find(l->session->peer());
        if (it != live_.end() && it->second == id) events_.on_writable(l->session->peer());
    }
}

void SessionTable::recycle(LinkId id, std::vector<uint8_t>&& buffer) {
    if (Link* l = find(id); l && l->session) l->session->recycle(std::move(buffer));
}

// The close a link's end stands for: what its session says, or else the transport's failure.
Closed SessionTable::closed_of(const Link& l, const std::string& transport_why) const {
    using End = crypto::Session::End;
    if (!l.session || l.session->state() != crypto::Session::State::closed)
        return {CloseReason::link_failed, false, transport_why};
    const auto& s = *l.session;
    switch (s.end()) {
        case End::local: return l.local_close;
        case End::peer: {
            // "token: detail": the token is the reason, the rest is for the log.
            const std::string& text = s.peer_reason();
            auto colon = text.find(": ");
            return {parse_reason(text), true, colon == std::string::npos ? std::string{} : text.substr(colon + 2)};
        }
        case End::idle: return {CloseReason::idle, false, {}};
        case End::handshake_timeout: return {CloseReason::handshake_timeout, false, {}};
        case End::handshake_failed: return {CloseReason::handshake_failed, false, s.close_reason()};
        case End::peer_silent: return {CloseReason::peer_silent, false, s.close_reason()};
        case End::protocol: return {CloseReason::protocol_error, false, s.close_reason()};
        case End::none: break;
    }
    return {CloseReason::other, false, s.close_reason()};
}

void SessionTable::drive(Link& l, base::TimePoint now) {
    ++corked_;
    LinkId id = l.info.id;
    for (auto& e : l.session->take_events()) {
        Link* cur = find(id);
        if (!cur) break;
        switch (e.type) {
            case crypto::Session::Event::Type::established:
                established(*cur, now);
                break;
            case crypto::Session::Event::Type::data:
                deliver(*cur, e.payload(), now);
                if ((cur = find(id)) && cur->session) cur->session->recycle_event_buffer(std::move(e.data));
                break;
            case crypto::Session::Event::Type::closed:
                break;
        }
    }
    if (Link* cur = find(id)) {
        cur->dirty = true;
        if (cur->linger_until == base::kNever && cur->session->state() == crypto::Session::State::closed)
            end(*cur, closed_of(*cur, {}), now, true);
    }
    uncork();
}

// Application bytes from a session: straight up on a stream; on a datagram path, segments of
// the reliable channel, which hands up whole messages in order and asks for acknowledgements.
void SessionTable::deliver(Link& l, std::span<const uint8_t> payload, base::TimePoint now) {
    PublicKey peer = l.session->peer();
    if (!l.reliable) {
        if (l.info.path == Path::tcp) events_.on_data(peer, payload);
        return;  // (datagram data before established cannot happen: the session holds it back)
    }
    std::vector<std::vector<uint8_t>> messages;
    size_t before = l.reliable->queued_bytes();
    l.reliable->on_segment(payload, now, messages);
    LinkId id = l.info.id;
    seal_segments(l, now);
    for (auto& m : messages) {
        events_.on_data(peer, m);
        if (!find(id)) return;
    }
    Link* cur = find(id);
    if (cur && cur->reliable && before >= cfg_.high_water / 2 && cur->reliable->queued_bytes() < cfg_.high_water / 2) {
        auto it = live_.find(peer);
        if (it != live_.end() && it->second == id) events_.on_writable(peer);
    }
}

void SessionTable::seal_segments(Link& l, base::TimePoint now) {
    if (!l.reliable || !l.session) return;
    for (auto& seg : l.reliable->take_output()) (void)l.session->send(seg, now);
    l.dirty = true;
}

void SessionTable::flush(Link& l) {
    l.dirty = false;
    if (!l.session) return;
    if (l.info.path == Path::tcp) {
        auto bytes = l.session->take_stream_bytes();
        if (!bytes.empty()) io_.write(l.info.id, std::move(bytes));
    } else {
        for (auto& d : l.session->take_datagrams()) io_.send_datagram(l.info.id, d);
    }
}

void SessionTable::uncork() {
    if (corked_ > 0) --corked_;
    if (corked_ > 0) return;
    for (auto& [id, l] : links_)
        if (l->dirty) flush(*l);
}

// Both ends apply the same rule, so both keep the same session. A handshake for a new session
// while an old one is live, and not at the same moment: the peer restarted (kill -9 leaves our
// side of the old one open until keepalives fail), lost it, or moved to another network (its
// old path is dead, and a better path may not exist from there: PROTOCOL.md §16.10). The new one
// is the one that works, whatever its path. (The connector cancels its own handshakes on worse
// paths once a session is up, so a late one from the same attempt does not pass for new.) Two
// sessions that came up together: the better path; on the same path the session whose initiator
// has the smaller key; two started by the same side: the newer.
bool SessionTable::keep_new(const Link& fresh, const Link& old, base::TimePoint now) const {
    if (now - old.since > cfg_.simultaneous_window) return true;
    if (fresh.info.path != old.info.path) return fresh.info.path > old.info.path;
    const PublicKey& me = keys_.identity.public_key;
    const PublicKey& peer = fresh.session->peer();
    const PublicKey& init_new = fresh.info.outbound ? me : peer;
    const PublicKey& init_old = old.info.outbound ? me : peer;
    return init_new == init_old ? true : init_new < init_old;
}

void SessionTable::established(Link& l, base::TimePoint now) {
    // A session that yielded its initiator role runs as the responder (crypto::Session::connect).
    l.info.outbound = l.session->role() == crypto::Session::Role::initiator;
    const PublicKey peer = l.session->peer();
    ++stats_.established;
    if (l.info.path != Path::tcp) l.reliable = std::make_unique<ReliableChannel>(cfg_.reliable, now);
    auto it = live_.find(peer);
    if (it != live_.end() && it->second != l.info.id) {
        if (Link* other = find(it->second)) {
            bool keep = keep_new(l, *other, now);
            bool upgrade = keep && l.info.path > other->info.path;
            KC_LOG(log_, debug, "session", "two sessions with %s: keeping the one over %s %s", short_id(peer).c_str(),
                   path_name((keep ? l : *other).info.path), (keep ? l : *other).info.outbound ? "we started" : "they started");
            if (!keep) {
                ++stats_.duplicates_closed;
                end(l, {l.info.path < other->info.path ? CloseReason::upgraded : CloseReason::duplicate, false,
                        "tie-break"},
                    now, true);
                return;
            }
            live_[peer] = l.info.id;
            ++(upgrade ? stats_.upgrades : stats_.duplicates_closed);
            end(*other, {upgrade ? CloseReason::upgraded : CloseReason::duplicate, false, "tie-break"}, now, true);
        }
    }
    live_[peer] = l.info.id;
    upgrading_.erase(peer);
    if (auto c = carry_.find(peer); c != carry_.end()) {
        auto messages = std::move(c->second);
        carry_.erase(c);
        for (auto& m : messages) {
            if (l.reliable) {
                l.reliable->send(m, now);
            } else {
                (void)l.session->send(m, now);
            }
        }
        seal_segments(l, now);
        l.dirty = true;
    }
    KC_LOG(log_, info, "session", "session with %s over %s %s (%s, %s)", short_id(peer).c_str(),
           path_name(l.info.path), l.info.remote.to_string().c_str(), method_name(l.info.method),
           l.info.outbound ? "we started" : "they started");
    events_.on_established(peer, l.info);
}

void SessionTable::end(Link& l, const Closed& why, base::TimePoint now, bool linger) {
    if (l.linger_until != base::kNever) return;
    LinkId id = l.info.id;
    bool known = l.session && l.session->peer_known();
    PublicKey peer = known ? l.session->peer() : l.dialed;
    bool was_live = false;
    if (known) {
        auto it = live_.find(peer);
        if (it != live_.end() && it->second == id) {
            live_.erase(it);
            was_live = true;
        }
    }
    bool was_established = l.session && l.session->cipher() != nullptr;
    // A datagram session that goes because another path replaces it hands over what it had not
    // seen acknowledged.
    if (l.reliable && (why.reason == CloseReason::upgraded || why.reason == CloseReason::duplicate) &&
        (was_live || live_.count(peer))) {
        auto left = l.reliable->take_unacknowledged();
        auto& c = carry_[peer];
        c.insert(c.end(), std::make_move_iterator(left.begin()), std::make_move_iterator(left.end()));
        if (!was_live) {
            // The new session is live already: send them there now.
            if (Link* nl = find(live_.at(peer))) {
                auto messages = std::move(c);
                carry_.erase(peer);
                for (auto& m : messages) {
                    if (nl->reliable) nl->reliable->send(m, now);
                    else (void)nl->session->send(m, now);
                }
                seal_segments(*nl, now);
                nl->dirty = true;
            }
        }
    }
    if (l.session && l.session->state() != crypto::Session::State::closed) {
        l.local_close = why;
        l.session->close(why.wire_text(), now);
    }
    flush(l);  // now, corked or not: the close frame must be queued before we look at the queue
    // Let the close frame go out; the drain or the timer ends the link.
    if (linger && io_.queued(id) > 0) l.linger_until = now + cfg_.close_linger;

    std::string key = (why.by_peer ? "peer_" : "") + std::string(reason_name(why.reason));
    ++stats_.closed_by_reason[key];
    // A failure is worth a line in the normal log; a planned close is not.
    if (deliberate(why)) {
        KC_LOG(log_, debug, "session", "session %s over %s %s ended: %s", short_id(peer).c_str(),
               path_name(l.info.path), l.info.remote.to_string().c_str(), why.to_string().c_str());
    } else {
        KC_LOG(log_, info, "session", "session %s over %s %s ended: %s", short_id(peer).c_str(),
               path_name(l.info.path), l.info.remote.to_string().c_str(), why.to_string().c_str());
    }
    bool outbound_attempt = l.info.outbound && !was_established;
    if (l.linger_until == base::kNever) finish(id);
    if (was_live && why.by_peer && why.reason == CloseReason::upgraded && handshaking(peer)) {
        upgrading_[peer] = why;  // the better path is on its way (tick() settles it)
    } else if (was_live) {
        carry_.erase(peer);  // nothing takes its place: the owner hears of the end and resends
        events_.on_closed(peer, why);
    } else if (outbound_attempt) {
        events_.on_attempt_failed(peer, id, why);
    }
}

void SessionTable::finish(LinkId id) {
    auto it = links_.find(id);
    if (it == links_.end()) return;
    links_.erase(it);
    io_.close(id);
}

base::Status SessionTable::send(const PublicKey& peer, std::span<const uint8_t> payload, base::TimePoint now) {
    now_ = now;
    auto it = live_.find(peer);
    Link* l = it == live_.end() ? nullptr : find(it->second);
    if (!l) return base::Status{base::Errc::unavailable, "no session with this peer"};
    if (payload.size() > crypto::kMaxFrameBody) return base::Status{base::Errc::too_large, "message larger than one frame"};
    if (l->reliable) {
        if (l->reliable->queued_bytes() >= cfg_.high_water)
            return base::Status{base::Errc::limit, "peer is not reading fast enough"};
        l->reliable->send(payload, now);
        seal_segments(*l, now);
    } else {
        if (io_.queued(l->info.id) >= cfg_.high_water)
            return base::Status{base::Errc::limit, "peer is not reading fast enough"};
        if (auto st = l->session->send(payload, now); !st.ok()) return st;
        l->dirty = true;
    }
    if (corked_ == 0) flush(*l);
    return {};
}

std::optional<LinkInfo> SessionTable::live_link(const PublicKey& peer) const {
    auto it = live_.find(peer);
    if (it == live_.end()) return std::nullopt;
    const Link* l = find(it->second);
    return l ? std::optional<LinkInfo>{l->info} : std::nullopt;
}

size_t SessionTable::queued_bytes(const PublicKey& peer) const {
    auto it = live_.find(peer);
    const Link* l = it == live_.end() ? nullptr : find(it->second);
    if (!l) return 0;
    return l->reliable ? l->reliable->queued_bytes() : io_.queued(l->info.id);
}

bool SessionTable::handshaking_with(const Link& l, const PublicKey& peer) {
    if (l.linger_until != base::kNever || !l.session) return false;
    if (l.session->state() != crypto::Session::State::handshaking) return false;
    return (l.info.outbound && l.dialed == peer) || (l.session->peer_known() && l.session->peer() == peer);
}

bool SessionTable::handshaking(const PublicKey& peer) const {
    for (auto& [id, l] : links_)
        if (handshaking_with(*l, peer)) return true;
    return false;
}

void SessionTable::disconnect(const PublicKey& peer, Closed why, base::TimePoint now) {
    now_ = now;
    if (auto it = live_.find(peer); it != live_.end())
        if (Link* l = find(it->second)) end(*l, why, now, true);
    // Handshakes with the peer still in flight go too: one whose response was lost would resend
    // its init and bring the session back a second after it was asked to go (seen in the NAT lab:
    // the peer had just answered, and answered the resend afresh).
    std::vector<LinkId> pending;
    for (auto& [id, l] : links_)
        if (handshaking_with(*l, peer)) pending.push_back(id);
    for (auto id : pending)
        if (Link* l = find(id)) end(*l, why, now, false);
}

void SessionTable::close_all(Closed why, base::TimePoint now) {
    now_ = now;
    std::vector<LinkId> ids;
    for (auto& [id, l] : links_) ids.push_back(id);
    for (auto id : ids) {
        Link* l = find(id);
        if (!l) continue;
        if (l->linger_until != base::kNever) {
            finish(id);
            continue;
        }
        end(*l, why, now, false);
    }
}

base::TimePoint SessionTable::tick(base::TimePoint now) {
    now_ = now;
    base::TimePoint next = base::kNever;
    std::vector<LinkId> ids;
    ids.reserve(links_.size());
    for (auto& [id, l] : links_) ids.push_back(id);
    ++corked_;
    for (auto id : ids) {
        Link* l = find(id);
        if (!l) continue;
        if (l->linger_until != base::kNever) {
            if (now >= l->linger_until) {
                finish(id);
            } else {
                next = std::min(next, l->linger_until);
            }
            continue;
        }
        if (l->reliable) {
            if (l->reliable->stalled(cfg_.stall_transmissions, now)) {
                end(*l, {CloseReason::peer_silent, false,
                         "no acknowledgement after " + std::to_string(cfg_.stall_transmissions) + " transmissions"},
                    now, false);
                continue;
            }
            next = std::min(next, l->reliable->tick(now));
            seal_segments(*l, now);
        }
        next = std::min(next, l->session->tick(now));
        drive(*l, now);
    }
    uncork();
    // An upgrade whose handshake failed after all: the session is gone.
    for (auto it = upgrading_.begin(); it != upgrading_.end();) {
        if (connected(it->first) || handshaking(it->first)) {
            ++it;
            continue;
        }
        auto [peer, why] = *it;
        it = upgrading_.erase(it);
        carry_.erase(peer);
        events_.on_closed(peer, why);
    }
    return std::max(next, now);
}

std::vector<SessionTable::PeerInfo> SessionTable::peers(base::TimePoint now) const {
    std::vector<PeerInfo> out;
    for (auto& [peer, id] : live_) {
        const Link* l = find(id);
        if (!l) continue;
        PeerInfo p;
        p.peer = peer;
        p.link = l->info;
        p.age = now - l->since;
        p.rtt = l->session->rtt();
        p.bytes_in = l->session->bytes_in();
        p.bytes_out = l->session->bytes_out();
        p.frames_in = l->session->frames_in();
        p.frames_out = l->session->frames_out();
        if (l->reliable) p.retransmits = l->reliable->stats().retransmits;
        out.push_back(p);
    }
    return out;
}

}  // namespace session
