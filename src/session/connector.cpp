#include "session/connector.hpp"

#include <algorithm>

#include "base/hex.hpp"

namespace session {

namespace {
bool same_ip(const base::Endpoint& a, const base::Endpoint& b) { return a.family == b.family && a.addr == b.addr; }
constexpr double kProbeBurst = 10;
}  // namespace

Connector::Connector(ConnectorIo& io, const crypto::Identity& me, base::Rng& rng, base::Logger& log,
                     ConnectorConfig cfg, base::TimePoint now, uint64_t wall_ms)
    : io_{io},
      me_{me},
      rng_{rng},
      log_{log},
      cfg_{cfg},
      origin_{now},
      wall_origin_ms_{wall_ms},
      opener_{me},
      probe_tokens_{kProbeBurst},
      probe_tokens_at_{now} {}

uint64_t Connector::wall_ms(base::TimePoint now) const {
    return wall_origin_ms_ + static_cast<uint64_t>(std::max<int64_t>(base::to_ms_int(now - origin_), 0));
}

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
        // An attempt that lost its relayed session (see on_session_closed) opens it again.
        if (relay_lost(*p.attempt)) open_relay(peer, p, now);
        return;
    }
    start_attempt(peer, p, via, now);  // the user asked: no waiting out a backoff
}

void Connector::start_attempt(const PublicKey& key, Peer& p, std::optional<base::Endpoint> via, base::TimePoint now) {
    ++stats_.attempts;
    p.attempt = Attempt{};  // not emplace(): clang rejects it for nested structs with initializers
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

LinkId Connector::dial(const PublicKey& key, Peer& p, const base::Endpoint& to, Method method, bool simultaneous,
                       base::TimePoint now) {
    Attempt& a = *p.attempt;
    for (auto& t : a.tried)  // one TCP connection per endpoint and attempt
        if (t.path == Path::tcp && t.to == to) return 0;
    Try t;
    t.to = to;
    t.path = Path::tcp;
    t.method = method;
    t.at = now - a.started;
    t.link = io_.dial(key, to, method, simultaneous);
    if (t.link == 0) t.outcome = "could not start";
    a.tried.push_back(t);
    if (t.link != 0) a.open.insert(t.link);
    else maybe_fail(key, p, "cannot dial " + to.to_string(), now);
    return t.link;
}

void Connector::on_lookup(const PublicKey& peer, const PeerLookup& r, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.attempt || it->second.attempt->phase != Attempt::Phase::lookup) return;
    Peer& p = it->second;
    Attempt& a = *p.attempt;
    a.lookup = now - a.started;
    if (!r.found && r.rendezvous.empty())
        return fail(peer, p,
                    "peer " + short_id(peer) + " not found in the DHT (" + std::to_string(r.messages) + " queries, " +
                        std::to_string(r.answered) + " nodes answered); it may be offline",
                    now);
    // A peer that answered the lookup is reachable: dial it, and offer it our candidates
    // directly (a NAT that lets UDP in may still refuse a TCP connect). One that keeps a
    // presence is reached through the nodes that keep it.
    std::vector<Rendezvous> via = r.rendezvous;
    if (r.found) via.insert(via.begin(), Rendezvous{peer, r.endpoint});
    a.phase = Attempt::Phase::rendezvous;
    if (r.found) {
        a.offer_via = via;
        a.offer_at = now + cfg_.offer_after;
        dial(peer, p, r.endpoint, Method::dial, false, now);
        return;
    }
    send_offers(peer, p, via, now);
    // Start towards the peer's public endpoint at once, before its answer: it is dropped at its
    // NAT, but it opens ours, so the first packet the peer sends when the offer reaches it gets
    // through (a round trip sooner than waiting for the answer).
    if (p.attempt && p.attempt->punch && r.here && r.here->port != 0 && !behind_our_nat(*r.here)) {
        Target& t = add_target(peer, p, *p.attempt->punch, *r.here, Method::punch, now);
        open_path(peer, p, *p.attempt->punch, t);
        dial(peer, p, *r.here, Method::simultaneous_open, true, now);
    }
    // And a relay at once, not after the punch failed: the first message need not wait.
    if (cfg_.use_relays && p.attempt && io_.session_path(peer) != Path::relay) {
        for (auto& v : r.rendezvous)
            if (v.relay && v.endpoint.port != 0) p.attempt->relays.push_back(v);
        open_relay(peer, p, now);
    }
}

bool Connector::behind_our_nat(const base::Endpoint& ep) {
    for (auto& o : io_.own_candidates())
        if (o.kind == Candidate::Kind::reflexive && same_ip(o.endpoint, ep)) return true;
    return false;
}

void Connector::send_offers(const PublicKey& key, Peer& p, const std::vector<Rendezvous>& via, base::TimePoint now) {
    Attempt& a = *p.attempt;
    a.offer_at = base::kNever;
    a.offer_via.clear();
    Punch punch;
    rng_.fill(std::as_writable_bytes(std::span{punch.nonce}));
    rng_.fill(std::as_writable_bytes(std::span{punch.key}));
    punch.tag = tag_of(punch.nonce);
    a.ours = io_.own_candidates();
    Offer offer{false, punch.nonce, punch.key, a.ours, io_.own_nat(), birthday_ready(now)};
    auto sealed = seal_offer(me_, key, offer, wall_ms(now), rng_);
    if (!sealed) return maybe_fail(key, p, "cannot seal an offer: " + sealed.status().detail(), now);
    a.punch = std::move(punch);
    for (size_t i = 0; i < via.size() && i < cfg_.rendezvous_fanout; ++i) {
        ++a.offers_out;
        ++stats_.offers_sent;
        io_.send_offer(key, via[i], *sealed);
    }
}

void Connector::on_offer_reply(const PublicKey& peer, const OfferReply& r, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.attempt || !it->second.attempt->punch) return;
    Peer& p = it->second;
    Attempt& a = *p.attempt;
    if (a.offers_out == 0) return;
    --a.offers_out;
    if (a.phase != Attempt::Phase::rendezvous) return;  // another rendezvous answered first
    std::string why = r.error;
    if (r.ok) {
        auto ans = opener_.open(r.answer, peer, wall_ms(now));
        if (ans && ans->answer && ans->nonce == a.punch->nonce) {
            a.rendezvous = now - a.started - a.lookup;
            a.theirs = ans->candidates;
            a.phase = Attempt::Phase::paths;
            start_paths(peer, p, *a.punch, ans->candidates, r.peer_seen, ans->nat, ans->birthday, true, now);
            return;
        }
        why = ans ? "an answer to another offer" : "an answer that does not open: " + ans.status().detail();
    }
    if (a.offers_out == 0) {
        a.phase = Attempt::Phase::paths;
        maybe_fail(peer, p, "no rendezvous node passed our offer on (" + why + ")", now);
    }
}

std::optional<std::string> Connector::on_offer(const PublicKey& from, const base::Endpoint& seen,
                                               const std::string& hex, base::TimePoint now) {
    auto offer = opener_.open(hex, from, wall_ms(now));
    if (offer && offer->repeated) {
        // The same offer through a second rendezvous node (or replayed within its two minutes):
        // the same answer, and nothing new started.
        auto it = answers_.find(offer->nonce);
        if (it != answers_.end()) return it->second;
        return std::nullopt;
    }
    if (!offer || offer->answer) {
        ++stats_.offers_refused;
        KC_LOG(log_, info, "connect", "refused an offer from %s: %s", short_id(from).c_str(),
               offer ? "an answer where an offer belongs" : offer.status().detail().c_str());
        return std::nullopt;
    }
    // A birthday attempt needs both sides: we take part if the offer says its writer will, and
    // we can (answer.birthday tells it whether we will).
    Offer answer{true, offer->nonce, {}, io_.own_candidates(), io_.own_nat(),
                 offer->birthday && birthday_ready(now) && birthday_needed(io_.own_nat(), offer->nat)};
    auto sealed = seal_offer(me_, from, answer, wall_ms(now), rng_);
    if (!sealed) return std::nullopt;
    ++stats_.offers_answered;
    answers_[offer->nonce] = *sealed;
    answer_order_.push_back(offer->nonce);
    if (answer_order_.size() > 64) {
        answers_.erase(answer_order_.front());
        answer_order_.erase(answer_order_.begin());
    }
    Peer& p = peers_[from];
    if (p.answered) end_birthday(*p.answered, now);
    p.answered = Punch{};
    p.answered->nonce = offer->nonce;
    p.answered->key = offer->key;
    p.answered->tag = tag_of(offer->nonce);
    KC_LOG(log_, debug, "connect", "%s offers %zu candidate(s); punching", short_id(from).c_str(),
           offer->candidates.size());
    start_paths(from, p, *p.answered, offer->candidates, seen, offer->nat, answer.birthday, false, now);
    return *sealed;
}

// All paths at once. The side that sent the offer also dials the peer's LAN candidates over TCP
// (one plain dial is enough); both sides connect from their listening port to the other's
// public candidates (TCP simultaneous open) and probe every candidate over UDP. A public
// candidate on our own public address is the same NAT: no hairpin, the LAN candidates serve.
void Connector::start_paths(const PublicKey& key, Peer& p, Punch& punch, const std::vector<Candidate>& theirs,
                            const std::optional<base::Endpoint>& seen, const NatInfo& their_nat, bool birthday,
                            bool we_offered, base::TimePoint now) {
    punch.until = now + cfg_.punch_for;
    std::vector<Candidate> cands = theirs;
    if (seen && seen->port != 0) {
        bool have = std::any_of(cands.begin(), cands.end(), [&](auto& c) { return c.endpoint == *seen; });
        if (!have) cands.push_back({Candidate::Kind::reflexive, *seen});
    }
    for (auto& c : cands) {
        if (c.kind == Candidate::Kind::reflexive && behind_our_nat(c.endpoint)) continue;
        bool lan = c.kind == Candidate::Kind::lan;
        if (p.attempt && p.attempt->phase == Attempt::Phase::paths) {
            if (lan && we_offered) dial(key, p, c.endpoint, Method::lan, false, now);
            if (!lan) dial(key, p, c.endpoint, Method::simultaneous_open, true, now);
        } else if (!lan) {
            // Answering, with no attempt of our own: the TCP simultaneous open needs our SYN too.
            io_.dial(key, c.endpoint, Method::simultaneous_open, true);
        }
        Target& t = add_target(key, p, punch, c.endpoint, lan ? Method::lan : Method::punch, now);
        open_path(key, p, punch, t);
    }
    if (birthday) maybe_birthday(key, punch, cands, seen, their_nat, now);
    run_punch(key, p, punch, now);
}

// A session handshake on a UDP path, started from both ends (the smaller key's init wins): the
// first init that gets through is the punch, a round trip sooner than waiting for a probe's
// answer first. Probes still run: they find the endpoints a NAT really uses (peer-reflexive).
void Connector::open_path(const PublicKey& key, Peer& p, Punch& punch, Target& t) {
    // (A session on a relay does not stop it: a direct path replaces that one.)
    if (t.opened || (io_.connected(key) && io_.session_path(key) != Path::relay)) return;
    t.opened = true;
    punch.opened = true;
    LinkId link = io_.open_datagram(key, t.to, t.method, t.sock);
    Attempt* a = p.attempt && p.attempt->punch && p.attempt->punch->tag == punch.tag ? &*p.attempt : nullptr;
    if (link == 0 || !a) return;
    a->open.insert(link);
    a->udp.insert(link);
    if (t.try_index < a->tried.size()) a->tried[t.try_index].link = link;
}

Connector::Target& Connector::add_target(const PublicKey&, Peer& p, Punch& punch, const base::Endpoint& to,
                                         Method method, base::TimePoint now, SocketId sock) {
    for (auto& t : punch.targets) {
        if (t.to != to || t.sock != sock) continue;
        // Learnt from the peer's probe before its candidates arrived: the candidate says what it is.
        if (method == Method::lan && t.method == Method::punch) {
            t.method = Method::lan;
            if (p.attempt && t.try_index < p.attempt->tried.size()) p.attempt->tried[t.try_index].method = method;
        }
        return t;
    }
    Target t;
    t.to = to;
    t.sock = sock;
    t.method = method;
    t.next = now;
    t.try_index = SIZE_MAX;
    bool ours = p.attempt && p.attempt->punch && p.attempt->punch->tag == punch.tag;
    if (ours) {
        Try tr;
        tr.to = to;
        tr.path = Path::udp;
        tr.method = method;
        tr.at = now - p.attempt->started;
        t.try_index = p.attempt->tried.size();
        p.attempt->tried.push_back(tr);
    }
    punch.targets.push_back(t);
    return punch.targets.back();
}

bool Connector::take_probe_token(base::TimePoint now) {
    double secs = std::chrono::duration<double>(now - probe_tokens_at_).count();
    probe_tokens_ = std::min(kProbeBurst, probe_tokens_ + secs * cfg_.probe_rate);
    probe_tokens_at_ = now;
    if (probe_tokens_ < 1) return false;
    probe_tokens_ -= 1;
    return true;
}

void Connector::send_probe(Punch& punch, const base::Endpoint& to, bool pong, Attempt* a, base::TimePoint,
                           SocketId from) {
    Probe pr{pong, punch.tag, punch.seq++};
    auto bytes = encode_probe(pr, punch.key);
    io_.send_probe(to, bytes, from);
    ++stats_.probes_sent;
    ++punch.probes;
    if (a) ++a->probes;
}

// Pings every unanswered candidate every probe_every, within the node's probe budget and the
// attempt's. Returns when to come back.
base::TimePoint Connector::run_punch(const PublicKey&, Peer& p, Punch& punch, base::TimePoint now) {
    if (now >= punch.until) return base::kNever;
    Attempt* a = p.attempt && p.attempt->punch && p.attempt->punch->tag == punch.tag ? &*p.attempt : nullptr;
    base::TimePoint next = punch.until;
    if (punch.birthday) next = std::min(next, run_birthday(punch, a, now));
    for (auto& t : punch.targets) {
        if (t.answered) continue;
        if (now >= t.next) {
            if (punch.probes >= cfg_.max_probes_per_attempt) continue;
            if (take_probe_token(now)) {
                send_probe(punch, t.to, false, a, now, t.sock);
                t.next = now + cfg_.probe_every;
            } else {
                ++stats_.probes_capped;
                t.next = now + std::chrono::milliseconds(static_cast<int64_t>(1000.0 / cfg_.probe_rate) + 1);
            }
        }
        next = std::min(next, t.next);
    }
    return next;
}

void Connector::on_probe(const base::Endpoint& from, std::span<const uint8_t> datagram, base::TimePoint now,
                         SocketId at) {
    auto tag = probe_tag(datagram);
    if (!tag) {
        ++stats_.probes_dropped;
        return;
    }
    for (auto& [key, p] : peers_) {
        for (Punch* punch : {p.attempt && p.attempt->punch ? &*p.attempt->punch : nullptr,
                             p.answered ? &*p.answered : nullptr}) {
            if (!punch || punch->tag != *tag) continue;
            auto probe = decode_probe(datagram, punch->key);
            if (!probe) {
                ++stats_.probes_dropped;
                return;
            }
            ++stats_.probes_received;
            if (at != 0)
                KC_LOG(log_, debug, "connect", "birthday: a %s from %s crossed to our socket %u", probe->pong ? "pong" : "ping",
                       from.to_string().c_str(), at);
            Attempt* a = p.attempt && p.attempt->punch && &*p.attempt->punch == punch ? &*p.attempt : nullptr;
            // The endpoint a valid probe really came from is a candidate (peer-reflexive): it is
            // the peer's NAT mapping towards us, whatever it told the rendezvous.
            // One that crossed during a birthday attempt is the birthday's path: on one of our
            // extra sockets or, rarely, on our DHT socket's own mapping towards the easy side (the
            // hard side), or from the hard side's address (the easy side).
            bool known = std::any_of(punch->targets.begin(), punch->targets.end(),
                                     [&](auto& t) { return t.to == from && t.sock == at; });
            auto& b = punch->birthday;
            bool birthday = b && (at != 0 || from == b->to || (!b->hard && same_ip(from, b->to)));
            Target* t = nullptr;
            if (!known && now < punch->until + cfg_.punch_for) {
                t = &add_target(key, p, *punch, from, birthday ? Method::birthday : Method::punch, now, at);
            } else {
                for (auto& x : punch->targets)
                    if (x.to == from && x.sock == at) t = &x;
            }
            if (!probe->pong) {
                // A pong always goes: the birthday's ping found its port once, and it may not again.
                if (birthday || take_probe_token(now))
                    send_probe(*punch, from, true, a, now, at);
                else
                    ++stats_.probes_capped;
                // A birthday ping proves the path both ways: it crossed the hard side's mapping
                // and the easy side's filter, one of which exists only because of the other
                // side's guess, so our answer crosses too. Our session handshake goes now.
                if (birthday && t && !t->answered) path_answered(key, p, *punch, *t, now);
            } else if (t && !t->answered) {
                path_answered(key, p, *punch, *t, now);
            }
            return;
        }
    }
    ++stats_.probes_dropped;  // no attempt of ours has that tag
}

// A pong: the path to `t` works both ways. The first such path carries a session (datagram
// mode, started from both ends: the smaller key's init wins).
void Connector::path_answered(const PublicKey& key, Peer& p, Punch& punch, Target& t, base::TimePoint now) {
    t.answered = true;
    Attempt* a = p.attempt && p.attempt->punch && p.attempt->punch->tag == punch.tag ? &*p.attempt : nullptr;
    if (a && t.try_index < a->tried.size()) {
        a->tried[t.try_index].outcome = "answered";
        a->tried[t.try_index].took = now - a->started - a->tried[t.try_index].at;
    }
    open_path(key, p, punch, t);  // a peer-reflexive endpoint gets its handshake here
}

void Connector::on_session_up(const PublicKey& peer, const LinkInfo& link, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.failures = 0;
    if (link.path == Path::relay) {
        // Not the end of the attempt: the punching goes on, and a direct session replaces this.
        p.relayed = true;
        if (p.attempt) relay_up(peer, p, link, now);
        else p.retry_at = base::kNever;  // the side that opened the circuit tries to upgrade
        return;
    }
    p.relayed = false;
    p.upgrades = 0;
    p.retry_at = base::TimePoint{};
    if (link.method == Method::birthday) ++stats_.birthday_won;
    end_punches(p, now);
    p.answered.reset();
    if (p.attempt) succeed(peer, p, link, now);
    forget_if_idle(peer);
}

void Connector::succeed(const PublicKey& key, Peer& p, const LinkInfo& link, base::TimePoint now) {
    Attempt a = std::move(*p.attempt);
    p.attempt.reset();
    ++stats_.succeeded;
    // A session the user asked for is kept up from now on (redialled if it breaks).
    if (!p.waiters.empty()) p.wants |= static_cast<uint8_t>(Want::user);
    for (auto& t : a.tried) {
        if (t.link == link.id && link.id != 0) {
            t.outcome = "up";
            t.took = now - a.started - t.at;
        } else if (t.outcome == "pending" && link.path == Path::tcp) {
            t.outcome = "cancelled";
        }
    }
    // A TCP path still connecting may yet replace a UDP session (the table upgrades it); nothing
    // worse than the session's path may: a late session is taken for a new one (the peer lost the
    // old, SessionTable::keep_new), so a relay handshake left running would take the session
    // off a direct path.
    if (link.path == Path::tcp) {
        for (LinkId l : a.open)
            if (l != link.id) io_.cancel(l);
    } else {
        for (auto& t : a.tried)
            if (t.link != link.id && t.link != 0 && t.path < link.path && a.open.count(t.link)) {
                io_.cancel(t.link);
                if (t.outcome == "pending") t.outcome = "cancelled";
            }
    }
    ConnectReport r = report_of(a, now);
    r.link = link;
    KC_LOG(log_, info, "connect", "reached %s in %.0f ms over %s (%s)", short_id(key).c_str(), base::to_ms(r.total),
           path_name(link.path), method_name(link.method));
    report(p, r);
}

void Connector::on_session_closed(const PublicKey& peer, const Closed& why, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.relayed = false;
    p.upgrades = 0;
    if (p.attempt && p.attempt->relayed) relay_session_lost(*p.attempt);
    // An idle close (either side) or a disconnect asked for here ends the user's wish; chat
    // speaks for itself.
    if (why.reason == CloseReason::idle || (why.reason == CloseReason::disconnect && !why.by_peer))
        p.wants &= static_cast<uint8_t>(~static_cast<uint8_t>(Want::user));
    if (p.wants != 0 && !deliberate(why) && !p.attempt) {
        ++stats_.redials;
        p.retry_at = now + cfg_.retry_min;
    }
    if (p.attempt && p.wants != 0 && relay_lost(*p.attempt)) open_relay(peer, p, now);
    forget_if_idle(peer);
}

void Connector::on_attempt_failed(const PublicKey& peer, LinkId link, const Closed& why, base::TimePoint now) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.attempt) return;
    Peer& p = it->second;
    Attempt& a = *p.attempt;
    if (!a.open.erase(link)) return;
    a.udp.erase(link);
    for (auto& t : a.tried)
        if (t.link == link) {
            t.outcome = why.to_string();
            t.took = now - a.started - t.at;
        }
    if (a.relay_links.erase(link)) {
        ++stats_.relay_failed;
        if (!a.relayed && open_relay(peer, p, now)) return;  // the next relay the peer reserved
    }
    if (a.offer_at != base::kNever && a.open.empty()) {
        auto via = a.offer_via;
        send_offers(peer, p, via, now);  // the direct dial failed: punch
        return;
    }
    maybe_fail(peer, p, why.to_string(), now);
}

// Fails the attempt once nothing it started can still succeed.
void Connector::maybe_fail(const PublicKey& key, Peer& p, const std::string& why, base::TimePoint now) {
    if (!p.attempt) return;
    Attempt& a = *p.attempt;
    if (a.phase != Attempt::Phase::paths || a.offers_out > 0) return;
    if (a.punch && now < a.punch->until) return;
    // Once punching is over, a datagram handshake still waiting for its answer does not hold
    // the attempt: it got no answer in the whole window. (It may still finish: a session that
    // comes up late is taken all the same.)
    for (LinkId l : a.open)
        if (!a.udp.count(l) || !a.punch) return;
    std::string tried;
    size_t n = 0;
    for (auto& t : a.tried) {
        if (n++ < 6) tried += (tried.empty() ? "" : ", ") + std::string(path_name(t.path)) + " " + t.to.to_string();
    }
    if (a.tried.empty())
        fail(key, p, why, now);
    else if (a.punch)
        fail(key, p, "no direct path to " + short_id(key) + " (tried " + tried + (n > 6 ? ", …" : "") +
                         "): their NAT and ours cannot be punched, or they went away",
             now);
    else
        fail(key, p, "cannot open a session with " + tried + ": " + why, now);
}

void Connector::fail(const PublicKey& key, Peer& p, const std::string& why, base::TimePoint now) {
    if (p.attempt->punch) end_birthday(*p.attempt->punch, now);
    Attempt a = std::move(*p.attempt);
    p.attempt.reset();
    for (LinkId l : a.open)
        if (!a.udp.count(l)) io_.cancel(l);
    for (auto& t : a.tried)
        if (t.outcome == "pending") t.outcome = t.path == Path::udp ? "no answer" : "cancelled";
    ConnectReport r = report_of(a, now);
    if (p.relayed && io_.session_path(key) == Path::relay) {
        // The session stays on the relay; a direct path is tried again later.
        ++p.upgrades;
        auto wait = cfg_.upgrade_min * (1 << std::min(p.upgrades - 1, 16));
        wait = std::min<base::Duration>(wait, cfg_.upgrade_max);
        p.retry_at = now + wait;
        KC_LOG(log_, info, "connect", "%s stays on the relay (%s); a direct path is tried again in %lld s",
               short_id(key).c_str(), why.c_str(), static_cast<long long>(base::to_ms_int(wait) / 1000));
        report(p, r);
        return;
    }
    ++stats_.failed;
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
    r.rendezvous = a.rendezvous;
    r.total = now - a.started;
    r.tried = a.tried;
    r.ours = a.ours;
    r.theirs = a.theirs;
    r.probes = a.probes;
    return r;
}

void Connector::forget_if_idle(const PublicKey& key) {
    auto it = peers_.find(key);
    if (it == peers_.end()) return;
    const Peer& p = it->second;
    if (p.wants == 0 && !p.attempt && p.waiters.empty() && !p.answered && !p.relayed) peers_.erase(it);
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
        if (p.answered) {
            if (now >= p.answered->until) {
                end_birthday(*p.answered, now);
                p.answered.reset();
                forget_if_idle(k);
                if (!peers_.count(k)) continue;
            } else {
                next = std::min(next, run_punch(k, p, *p.answered, now));
            }
        }
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
            if (a.offer_at != base::kNever) {
                if (now >= a.offer_at) {
                    auto via = a.offer_via;
                    send_offers(k, p, via, now);
                } else {
                    next = std::min(next, a.offer_at);
                }
            }
            if (a.phase == Attempt::Phase::paths && a.punch) {
                if (now >= a.punch->until) {
                    maybe_fail(k, p, "no direct path", now);
                    if (!peers_.count(k) || !peers_.at(k).attempt) continue;
                } else {
                    next = std::min(next, run_punch(k, p, *a.punch, now));
                }
            }
            if (p.attempt) next = std::min(next, p.attempt->started + cfg_.attempt_timeout);
            continue;
        }
        bool upgrade = p.relayed && io_.session_path(k) == Path::relay;
        if ((p.wants == 0 && !upgrade) || p.retry_at == base::kNever) continue;
        if (io_.connected(k) && !upgrade) continue;
        if (now >= p.retry_at) {
            if (upgrade) ++stats_.upgrades_tried;
            start_attempt(k, p, std::nullopt, now);
            if (auto again = peers_.find(k); again != peers_.end() && again->second.attempt)
                next = std::min(next, again->second.attempt->started + cfg_.attempt_timeout);
        } else {
            next = std::min(next, p.retry_at);
        }
    }
    return std::max(next, now);
}

}  // namespace session
