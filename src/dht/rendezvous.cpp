// NAT traversal in the DHT (PROTOCOL.md §16): what a node learns about its own NAT, the client
// mode of a node that others cannot reach, the presence a NATed node keeps with the nodes closest
// to its ID (announce: also the keepalive that holds its NAT mapping open), and the rendezvous
// through those nodes (connect: an offer forwarded to the peer, its answer brought back).
// HyperDHT's announcer and router have this shape; here the records are plain and short-lived.
#include <algorithm>

#include "dht/node.hpp"

namespace dht {

namespace {
bool same_ip(const base::Endpoint& a, const base::Endpoint& b) { return a.family == b.family && a.addr == b.addr; }
}  // namespace

// A client, or a reachable node behind a NAT (its mapping to the presence holders is worth
// holding open, and its LAN candidates are worth a rendezvous). Not a node with a known public
// address, nor one with no translation at all.
bool Node::announcing() const {
    if (!cfg_.client_until_reachable) return false;
    if (!serving_) return true;
    return nat_.mapping() == Mapping::independent || nat_.mapping() == Mapping::dependent;
}

// ---- our side: the NAT check, client mode, announcing ----

base::TimePoint Node::nat_tick(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    for (auto it = presence_.begin(); it != presence_.end();) {
        if (now < it->second.expires) {
            ++it;
            continue;
        }
        // A reservation that was not renewed ends its circuits.
        if (it->second.relay) send_relay_out(relay_.close_node(it->first, "the reservation expired"));
        it = presence_.erase(it);
    }
    next = std::min(next, relay_tick(now));
    if (!cfg_.client_until_reachable) return next;
    bool joined = join_state_ == JoinState::connected;
    if (joined && nat_.check_due(now)) start_nat_check(now);
    // (Before joining there is nobody to ask: the join's own events bring the next tick.)
    base::TimePoint nat_next = nat_.tick(now);
    if (joined) next = std::min(next, std::max(nat_next, now + std::chrono::milliseconds(1)));
    bool reach = nat_.reachable();
    if (reach != serving_) {
        serving_ = reach;
        rpc_.set_read_only(!serving_);
        KC_LOG(log_, info, "nat", "%s (mapping %s, filtering %s)",
               serving_ ? "reachable by nodes we never contacted: serving as a full DHT member"
                        : "not reachable unsolicited: client mode, kept out of routing tables",
               mapping_name(nat_.mapping()), filtering_name(nat_.filtering()));
        // Tell the neighbourhood: a lookup of our own ID puts us into the tables of the nodes
        // closest to us (or, as a client, takes us out of them).
        if (table_.size() > 0)
            start_lookup(Lookup::Kind::find_node, self_, false, [](const LookupResult&, base::TimePoint) {}, now);
    }
    if (!announcing()) {
        next_announce_ = base::kNever;
        presence_holders_.clear();
        relay_granted_.clear();
        return next;
    }
    if (join_state_ != JoinState::connected) return next;
    if (next_announce_ == base::kNever) next_announce_ = now;
    if (now >= next_announce_) announce(now);
    return std::min(next, next_announce_);
}

void Node::network_changed(base::TimePoint now) {
    nat_.reset();
    ++stats_.network_changes;
    if (next_announce_ != base::kNever) next_announce_ = now;
    // Our entries in others' tables name the old endpoint: a lookup of our own ID refreshes the
    // neighbourhood (and, as a client now, takes us out of it until a check says otherwise).
    if (table_.size() > 0 && join_state_ == JoinState::connected)
        start_lookup(Lookup::Kind::find_node, self_, false, [](const LookupResult&, base::TimePoint) {}, now);
}

void Node::start_nat_check(base::TimePoint now) {
    // Ask a contact on another address than ours; it names a helper that will ping us.
    std::vector<NodeInfo> pick;
    auto ours = nat_.public_endpoints();
    for (auto& c : table_.closest(self_, cfg_.k)) {
        bool mine = std::any_of(ours.begin(), ours.end(), [&](auto& e) { return same_ip(e, c.endpoint); });
        if (!mine) pick.push_back(c);
    }
    if (pick.empty()) {
        nat_.check_failed(now);
        return;
    }
    NodeInfo x = pick[rng_.uniform(pick.size())];
    nat_.check_started(now);
    Message q;
    q.method = Method::nat_check;
    rpc_.send_query(q, x.endpoint, &x.id, [this](const RpcEvent& ev) {
        if (ev.type == RpcEvent::Type::short_timeout) return;
        if (ev.type == RpcEvent::Type::reply && !ev.msg->helpers.empty()) {
            std::vector<base::Endpoint> eps;
            for (auto& h : ev.msg->helpers) eps.push_back(h.endpoint);
            if (!nat_.on_helpers(eps, ev.now))
                KC_LOG(log_, debug, "nat", "every helper was a contact already; checking again later");
            return;
        }
        nat_.check_failed(ev.now);
    }, now);
}

// Announce to the nodes closest to our ID that we are here, at the endpoint they see: they keep
// the record for three keepalive intervals, and every announce holds our NAT mapping to them.
void Node::announce(base::TimePoint now) {
    next_announce_ = now + cfg_.keepalive;
    presence_holders_ = table_.closest(self_, cfg_.presence_nodes);
    // A relay that carries circuits of ours stays a holder while it does: if the reservation
    // lapsed because the neighbourhood changed, the relay would end those sessions (a live
    // session sends at least every 15 s, so 3 keepalives of silence mean it is gone).
    for (auto it = relays_in_use_.begin(); it != relays_in_use_.end();) {
        if (now - it->second.last > 3 * cfg_.keepalive) {
            it = relays_in_use_.erase(it);
            continue;
        }
        bool holder = std::any_of(presence_holders_.begin(), presence_holders_.end(),
                                  [&](auto& h) { return h.id == it->first; });
        if (!holder) presence_holders_.push_back(it->second.relay);
        ++it;
    }
    for (auto it = relay_granted_.begin(); it != relay_granted_.end();) {
        bool holder = std::any_of(presence_holders_.begin(), presence_holders_.end(), [&](auto& h) { return h.id == *it; });
        it = holder ? std::next(it) : relay_granted_.erase(it);
    }
    auto ttl = std::min<base::Duration>(3 * cfg_.keepalive, cfg_.max_presence_ttl);
    for (auto& n : presence_holders_) {
        Message q;
        q.method = Method::announce;
        q.ttl_s = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(ttl).count());
        q.relay = cfg_.reserve_relay;  // the announce is also the relay reservation and its renewal
        NodeId id = n.id;
        rpc_.send_query(q, n.endpoint, &id, [this, id](const RpcEvent& ev) {
            if (ev.type == RpcEvent::Type::short_timeout) return;
            if (ev.type == RpcEvent::Type::reply && ev.msg->relay) {
                relay_granted_.insert(id);
                return;
            }
            relay_granted_.erase(id);
            if (ev.type == RpcEvent::Type::timeout) contact_failed(id);
        }, now);
    }
}

std::optional<base::Endpoint> Node::presence_of(const NodeId& target, base::TimePoint now) const {
    auto it = presence_.find(target);
    if (it == presence_.end() || now >= it->second.expires) return std::nullopt;
    return it->second.endpoint;
}

void Node::rendezvous(const NodeInfo& via, const NodeId& target, std::string offer, RendezvousDone done,
                      base::TimePoint now) {
    clock_ = now;
    Message q;
    q.method = Method::connect;
    q.target = target;
    q.blob = std::move(offer);
    NodeId id = via.id;
    base::Endpoint to = via.endpoint;
    if (via.id == self_) {
        // We keep the target's presence ourselves: send it the forwarded form directly, naming
        // where others see us.
        auto seen = presence_of(target, now);
        if (!seen) {
            RendezvousResult r;
            r.error_code = kErrNotHere;
            r.error = "no presence for that node here";
            return defer([done = std::move(done), r](base::TimePoint) { done(r); });
        }
        auto ours = nat_.public_endpoints();
        q.from = self_;
        q.ep = ours.empty() ? base::Endpoint{} : ours.front();
        id = target;
        to = *seen;
    }
    rpc_.send_query(q, to, &id, [this, seen = via.id == self_ ? std::optional{to} : std::nullopt,
                                 done = std::move(done)](const RpcEvent& ev) {
        if (ev.type == RpcEvent::Type::short_timeout) return;
        RendezvousResult r;
        r.rtt = ev.rtt;
        if (ev.type == RpcEvent::Type::reply && !ev.msg->blob.empty()) {
            r.ok = true;
            r.answer = ev.msg->blob;
            r.peer_seen = seen ? seen : ev.msg->ep;
        } else if (ev.type == RpcEvent::Type::error) {
            r.error_code = ev.msg->error_code;
            r.error = ev.msg->error_msg;
        } else {
            r.error = ev.type == RpcEvent::Type::timeout ? "no answer from the rendezvous node" : "empty answer";
        }
        defer([done, r](base::TimePoint) { done(r); });
    }, now);
}

// ---- others' side: presence, forwarding, NAT checks ----

void Node::handle_announce(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    auto it = presence_.find(q.sender);
    if (it == presence_.end()) {
        size_t same = 0;
        for (auto& [id, p] : presence_) same += same_ip(p.endpoint, from);
        if (presence_.size() >= cfg_.max_presence || same >= cfg_.max_presence_per_ip) {
            ++stats_.forward_refused;
            return send_error(q, from, kErrStorageFull, "no room for presence records");
        }
        it = presence_.emplace(q.sender, Presence{}).first;
        ++stats_.presence_stored;
    }
    auto ttl = std::min<base::Duration>(std::chrono::seconds(std::max<uint32_t>(q.ttl_s, 1)), cfg_.max_presence_ttl);
    bool moved = !(it->second.endpoint == from) && it->second.expires != base::TimePoint{};
    if (it->second.relay && (moved || !q.relay))  // its circuits go to the old endpoint: end them
        send_relay_out(relay_.close_node(q.sender, moved ? "the reserving node moved" : "the reservation ended"));
    it->second = {from, now + ttl, q.relay && relaying()};
    Message r = reply_to(q, from);
    r.relay = it->second.relay;
    rpc_.send_response(r, from, q.sender);
}

void Node::handle_connect(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    if (q.from) {
        // Forwarded to us: someone wants a session. The answer goes back the same way.
        std::optional<std::string> answer;
        if (offer_handler_ && q.target == self_) answer = offer_handler_(*q.from, *q.ep, q.blob, now);
        if (!answer) return send_error(q, from, kErrRefused, "offer refused");
        Message r = reply_to(q, from);
        r.blob = std::move(*answer);
        return rpc_.send_response(r, from, q.sender);
    }
    if (q.target == self_) {
        // Asked directly (we answered the asker's lookup ourselves): we are the target.
        std::optional<std::string> answer;
        if (offer_handler_) answer = offer_handler_(q.sender, from, q.blob, now);
        if (!answer) return send_error(q, from, kErrRefused, "offer refused");
        Message r = reply_to(q, from);
        r.blob = std::move(*answer);
        return rpc_.send_response(r, from, q.sender);
    }
    auto it = presence_.find(q.target);
    if (it == presence_.end() || now >= it->second.expires)
        return send_error(q, from, kErrNotHere, "no presence for that node here");
    if (forwards_ >= cfg_.max_forwards || !forward_limit_.allow(from, now)) {
        ++stats_.rate_limited;
        return send_error(q, from, kErrBusy, "too many rendezvous requests");
    }
    forward_connect(q, from, it->second.endpoint, now);
}

// The asker's query, passed on over the target's mapping; the target's reply becomes ours to the
// asker, with the endpoint we see the target at. State: one pending request, bounded.
void Node::forward_connect(const Message& q, const base::Endpoint& from, const base::Endpoint& to,
                           base::TimePoint now) {
    ++forwards_;
    ++stats_.forwarded;
    Message f;
    f.method = Method::connect;
    f.target = q.target;
    f.blob = q.blob;
    f.from = q.sender;
    f.ep = from;
    Message reply = reply_to(q, from);
    NodeId asker = q.sender, target = q.target;
    rpc_.send_query(f, to, &target, [this, reply, from, asker, to](const RpcEvent& ev) mutable {
        if (ev.type == RpcEvent::Type::short_timeout) return;
        --forwards_;
        if (ev.type == RpcEvent::Type::reply && !ev.msg->blob.empty()) {
            reply.blob = ev.msg->blob;
            reply.ep = to;
            return rpc_.send_response(reply, from, asker);
        }
        reply.kind = Kind::error;
        if (ev.type == RpcEvent::Type::error && ev.msg->error_code == kErrRefused) {
            reply.error_code = kErrRefused;
            reply.error_msg = "the target refused";
        } else {
            ++stats_.forward_refused;
            reply.error_code = kErrNoAnswer;
            reply.error_msg = "the target did not answer";
        }
        rpc_.send_response(reply, from, asker);
    }, now);
}

void Node::handle_nat_check(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    if (!forward_limit_.allow(from, now)) {
        ++stats_.rate_limited;
        return send_error(q, from, kErrBusy, "too many requests");
    }
    // A helper on another address than the asker's. Best a client that keeps its presence here
    // (its NAT lets us in): the asker has almost surely talked to every full member during its
    // lookups, which makes their pings prove nothing, but never to a client. Else a contact.
    std::vector<NodeInfo> pick;
    for (auto& [id, p] : presence_)
        if (id != q.sender && now < p.expires && !same_ip(p.endpoint, from) && pick.size() < cfg_.k)
            pick.push_back({id, p.endpoint});
    if (pick.empty())
        for (auto& b : table_.buckets())
            for (auto& c : b.live)
                if (!same_ip(c.endpoint, from) && c.id != q.sender) pick.push_back(c.info());
    if (pick.empty()) return send_error(q, from, kErrNotHere, "no helper available");
    ++stats_.nat_checks_served;
    Message r = reply_to(q, from);
    for (size_t n = 0; n < 2 && !pick.empty(); ++n) {
        size_t at = rng_.uniform(pick.size());
        NodeInfo h = pick[at];
        pick.erase(pick.begin() + static_cast<std::ptrdiff_t>(at));
        Message probe;
        probe.method = Method::nat_probe;
        probe.target = q.sender;
        probe.ep = from;
        rpc_.send_query(probe, h.endpoint, &h.id, [](const RpcEvent&) {}, now);
        r.helpers.push_back(h);
    }
    rpc_.send_response(r, from, q.sender);
}

void Node::handle_nat_probe(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    // One ping, MAC'd for the target, at the endpoint the asking node saw it at. Limited per asker
    // and in all: a node cannot be made to ping the world.
    if (!q.ep || !forward_limit_.allow(from, now) || !dialback_limit_.allow(base::Endpoint{}, now)) {
        ++stats_.rate_limited;
        return send_error(q, from, kErrBusy, "too many requests");
    }
    ++stats_.dialbacks;
    Message ping;
    ping.method = Method::ping;
    NodeId target = q.target;
    rpc_.send_query(ping, *q.ep, &target, [](const RpcEvent&) {}, now);
    rpc_.send_response(reply_to(q, from), from, q.sender);
}

}  // namespace dht
