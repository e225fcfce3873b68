#include "dht/node.hpp"

#include <algorithm>

namespace dht {

namespace {
constexpr base::Duration kHousekeeping = std::chrono::seconds(5);
constexpr size_t kMaxObserved = 16;

// A stored value as the wire carries it: the TTL is what is left, at least one second.
ValueRecord record_of(const StoredValue& v, base::TimePoint now) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(v.expires_at - now).count();
    return {v.publisher, v.data, static_cast<uint32_t>(std::max<int64_t>(left, 1)), {}};
}
}  // namespace

const char* join_state_name(Node::JoinState s) {
    switch (s) {
        case Node::JoinState::alone: return "alone";
        case Node::JoinState::joining: return "joining";
        case Node::JoinState::connected: return "connected";
        case Node::JoinState::isolated: return "isolated";
    }
    return "?";
}

// Dispatch table, indexed by Method.
const Node::QueryHandler Node::kQueryHandlers[kMethodCount] = {
    &Node::handle_ping,
    &Node::handle_find_node,
    &Node::handle_find_value,
    &Node::handle_store,
    &Node::handle_mbox_put,
    &Node::handle_mbox_get,
    &Node::handle_mbox_del,
    &Node::handle_announce,
    &Node::handle_connect,
    &Node::handle_nat_check,
    &Node::handle_nat_probe,
    &Node::handle_relay,
};

Node::Node(const Config& cfg, Authenticator& auth, Transport& transport, Decoder& decoder,
           base::Rng& rng, base::Logger& log, base::TimePoint now)
    : cfg_{cfg},
      auth_{auth},
      transport_{transport},
      decoder_{decoder},
      rng_{rng},
      log_{log},
      self_{auth.self()},
      table_{self_, cfg_},
      rpc_{cfg_, outbound_, auth_, rng_, stats_},
      tokens_{rng_, cfg_.token_rotation, now},
      storage_{std::make_unique<MemoryStorage>(cfg_.max_values, cfg_.max_values_per_publisher,
                                               cfg_.max_value_size)},
      mailboxes_{cfg_},
      next_refresh_check_{now + kHousekeeping},
      serving_{!cfg.client_until_reachable},
      forward_limit_{cfg.forward_rate, cfg.forward_burst},
      dialback_limit_{cfg.dialback_rate, cfg.dialback_rate},
      host_limit_{cfg.host_rate, cfg.host_rate, 16384, 128},
      subnet_limit_{cfg.subnet_rate, cfg.subnet_rate, 16384, 24},
      relay_{cfg.relay_limits, rng} {
    clock_ = now;
    rpc_.set_read_only(!serving_);
}

void Node::Outbound::send(const base::Endpoint& to, std::span<const uint8_t> datagram) {
    node_.nat_.on_sent(to, node_.clock_);
    node_.transport_.send(to, datagram);
}

Node::~Node() = default;

void Node::drop(DropReason why, const base::Endpoint& from, const std::string& detail) {
    ++stats_.dropped[static_cast<size_t>(why)];
    KC_LOG(log_, debug, "dht", "dropped datagram from %s: %s (%s)", from.to_string().c_str(),
           drop_reason_name(why), detail.c_str());
}

void Node::on_datagram(const base::Endpoint& from, std::span<const uint8_t> datagram,
                       base::TimePoint now) {
    clock_ = now;
    stats_.in.add(datagram.size());
    // Per host and per /24, before the costly part (parsing, a MAC check or a hello's key agreement).
    if (!host_limit_.allow(from, now) || !subnet_limit_.allow(from, now))
        return drop(DropReason::source_limit, from, "over the per-address or per-/24 rate");
    Decoder::Failure failure{};
    auto decoded = decoder_.decode(datagram, auth_, failure);
    if (!decoded) return drop(failure.reason, from, failure.detail);
    const Message& m = decoded->msg;
    if (decoded->auth == AuthKind::none) return answer_hello(m, from, datagram.size());
    if (m.kind == Kind::query) {
        if (auto why = check_fresh(m, now)) {
            const char* detail = *why == DropReason::stale         ? "txid time too far from our clock"
                                 : *why == DropReason::replayed    ? "query seen before"
                                                                   : "replay memory full";
            return drop(*why, from, detail);
        }
        nat_.on_query_from(from, now);
        heard_from(m.sender, from, now, std::nullopt, m.read_only);
        if (m.error_code == kErrMethodUnknown) {
            stats_.unknown_method_in.add(datagram.size());
            send_error(m, from, kErrMethodUnknown, "unknown method " + m.error_msg);
            return;
        }
        stats_.by_method[static_cast<size_t>(m.method)].query_in.add(datagram.size());
        // An address that never answered us from there may be forged: its reply is cut to 3x
        // the query (PROTOCOL.md §7, amplification).
        bool proven = receives_at(from, now);
        if (!proven) ++stats_.unverified_queries;
        rpc_.set_reply_budget(proven ? kMaxDatagram : kAmplification * datagram.size());
        (this->*kQueryHandlers[static_cast<size_t>(m.method)])(m, from, now);
        rpc_.set_reply_budget(kMaxDatagram);
        return;
    }
    auto rtt = rpc_.match(m, from, now);
    if (!rtt) return drop(DropReason::unknown_transaction, from, "reply matches no request");
    if (m.observed) {
        auto it = observed_.find(*m.observed);
        if (it != observed_.end())
            ++it->second;
        else if (observed_.size() < kMaxObserved)
            observed_.emplace(*m.observed, 1);
        if (nat_.on_observed(from, *m.observed, now))
            KC_LOG(log_, debug, "nat", "mapping %s, seen at %s", mapping_name(nat_.mapping()),
                   m.observed->to_string().c_str());
    }
    // It answered a query we sent there: it receives at that address.
    if (proven_.size() >= kMaxProven) {
        std::erase_if(proven_, [&](auto& e) { return now - e.second > kProvenFor; });
        if (proven_.size() >= kMaxProven) proven_.erase(proven_.begin());
    }
    bool first_answer = !proven_.count(from);
    proven_[from] = now;
    // The table learns of the replier before the request's handler runs.
    heard_from(m.sender, from, now, *rtt, m.read_only);
    // A contact that first answers us from here is a new neighbour worth handing mailboxes to
    // (not one that only sent us a query: its address is unproven, and a hand-on sends it a
    // lookup's queries, more bytes than it sent).
    if (first_answer && !m.read_only && table_.find(m.sender)) neighbour_added(m.sender, now);
    rpc_.on_response(m, from, datagram.size(), now);
}

// A hello proves nothing about its sender: it gets a MAC'd pong for the ID it claims, which only
// that ID's holder can check, and which names our ID (PROTOCOL.md §2). It changes no state: no
// routing entry, no replay memory, no NAT evidence. The pong is smaller than 3x the hello, so a
// forged source address gains an attacker nothing (checked anyway, like any unproven query).
void Node::answer_hello(const Message& m, const base::Endpoint& from, size_t size) {
    ++stats_.hellos;
    stats_.by_method[static_cast<size_t>(Method::ping)].query_in.add(size);
    Message r = reply_to(m, from);
    rpc_.set_reply_budget(kAmplification * size);
    rpc_.send_response(r, from, m.sender);
    rpc_.set_reply_budget(kMaxDatagram);
}

bool Node::receives_at(const base::Endpoint& ep, base::TimePoint now) const {
    auto it = proven_.find(ep);
    return it != proven_.end() && now - it->second <= kProvenFor;
}

std::optional<DropReason> Node::check_fresh(const Message& q, base::TimePoint now) {
    // Ages in whole seconds, signed: the sender's clock may be ahead of ours. (Modulo 2^32: the
    // difference of two nearby times is right across a wrap.)
    auto age = static_cast<int64_t>(static_cast<int32_t>(wall_seconds(now, wall_offset_) - txid_seconds(q.txid)));
    const int64_t window = std::chrono::duration_cast<std::chrono::seconds>(cfg_.query_window).count();
    if (age > window || age < -window) return DropReason::stale;
    while (!replay_expiry_.empty() && replay_expiry_.top().first <= now) {
        replay_seen_.erase(replay_expiry_.top().second);
        replay_expiry_.pop();
    }
    uint64_t key = q.txid ^ (NodeIdHash{}(q.sender) * 0x9e3779b97f4a7c15ULL);
    if (replay_seen_.count(key)) return DropReason::replayed;
    if (replay_seen_.size() >= cfg_.replay_capacity) return DropReason::replay_full;
    replay_seen_.insert(key);
    // Kept one second past the moment the query turns stale (whole seconds round down).
    replay_expiry_.emplace(now + std::chrono::seconds(window - age + 1), key);
    return std::nullopt;
}

void Node::heard_from(const NodeId& id, const base::Endpoint& from, base::TimePoint now,
                      std::optional<base::Duration> rtt, bool read_only) {
    // A client ("ro") is not reachable by those who learn of it from us: it stays out, and one
    // that became a client since it entered leaves (PROTOCOL.md §16.1).
    if (read_only) {
        if (table_.remove(id))
            KC_LOG(log_, debug, "dht.table", "removed %s: it is a client now", id.short_hex().c_str());
        return;
    }
    auto res = table_.heard_from(id, from, now, rtt);
    if (res.outcome == RoutingTable::Outcome::added)
        KC_LOG(log_, trace, "dht.table", "added %s at %s", id.short_hex().c_str(),
               from.to_string().c_str());
    if (res.outcome == RoutingTable::Outcome::crowded) ++stats_.table_crowded;
    if (res.ping) ping_contact(*res.ping, now);
    if (res.check) check_move(*res.check, now);
}

// A known contact spoke from a new endpoint in a query: it moves there only if it answers a ping
// sent there (RoutingTable::heard_from then sees the answer). A recorded datagram replayed from
// elsewhere cannot answer, and the contact stays where it was, unharmed by the silence.
void Node::check_move(const NodeInfo& c, base::TimePoint now) {
    if (moving_.size() >= kMaxMoveChecks || !moving_.insert(c.id).second) return;
    ++stats_.moves_checked;
    Message q;
    q.method = Method::ping;
    NodeId id = c.id;
    rpc_.send_query(q, c.endpoint, &id,
                    [this, id](const RpcEvent& ev) {
                        if (ev.type != RpcEvent::Type::short_timeout) moving_.erase(id);
                    },
                    now);
}

void Node::ping_contact(const NodeInfo& c, base::TimePoint now) {
    Message q;
    q.method = Method::ping;
    NodeId id = c.id;
    rpc_.send_query(q, c.endpoint, &id,
                    [this, id](const RpcEvent& ev) {
                        if (ev.type == RpcEvent::Type::timeout) contact_failed(id);
                        // A reply refreshes the contact through on_datagram -> heard_from.
                    },
                    now);
}

void Node::contact_failed(const NodeId& id) {
    if (table_.failed(id))
        KC_LOG(log_, debug, "dht.table", "removed %s after timeouts", id.short_hex().c_str());
}

Message Node::reply_to(const Message& q, const base::Endpoint& from) const {
    Message r;
    r.kind = Kind::reply;
    r.method = q.method;
    r.txid = q.txid;
    r.sender = self_;
    r.observed = from;
    return r;
}

void Node::send_error(const Message& q, const base::Endpoint& from, int code, std::string msg) {
    Message e = reply_to(q, from);
    e.kind = Kind::error;
    e.error_code = code;
    e.error_msg = std::move(msg);
    rpc_.send_response(e, from, q.sender);
}

void Node::handle_ping(const Message& q, const base::Endpoint& from, base::TimePoint) {
    rpc_.send_response(reply_to(q, from), from, q.sender);
}

void Node::handle_find_node(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    Message r = reply_to(q, from);
    r.has_nodes = true;
    r.nodes = table_.closest(q.target, cfg_.k);
    if (auto it = presence_.find(q.target); it != presence_.end() && now < it->second.expires) {
        r.here = it->second.endpoint;
        r.relay = it->second.relay && relaying();
    }
    rpc_.send_response(r, from, q.sender);
}

void Node::handle_find_value(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    Message r = reply_to(q, from);
    r.token = tokens_.issue(from, now);
    r.has_nodes = true;
    r.nodes = table_.closest(q.target, cfg_.k);
    auto values = storage_->get(q.target, now, cfg_.max_values_per_reply);
    if (!values.empty()) {
        r.has_values = true;
        for (auto& v : values) r.values.push_back(record_of(v, now));
    }
    rpc_.send_response(r, from, q.sender);
}

void Node::handle_store(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    if (!tokens_.valid(q.token, from, now)) {
        ++stats_.values_refused;
        return send_error(q, from, kErrBadToken, "bad or expired token");
    }
    if (q.value.size() > cfg_.max_value_size) {
        ++stats_.values_refused;
        return send_error(q, from, kErrValueTooLarge,
                          "value exceeds " + std::to_string(cfg_.max_value_size) + " bytes");
    }
    auto max_ttl = std::chrono::duration_cast<std::chrono::seconds>(cfg_.max_ttl).count();
    auto ttl = std::chrono::seconds(std::clamp<int64_t>(q.ttl_s, 1, max_ttl));
    auto st = storage_->put(q.target, q.sender, q.value, now, now + ttl);
    if (!st.ok()) {
        ++stats_.values_refused;
        return send_error(q, from, st.code() == base::Errc::too_large ? kErrValueTooLarge : kErrStorageFull,
                          st.detail());
    }
    ++stats_.values_stored;
    next_expiry_ = std::min(next_expiry_, now + ttl);
    rpc_.send_response(reply_to(q, from), from, q.sender);
}

LookupId Node::start_lookup(Lookup::Kind kind, const NodeId& target, bool collect_tokens,
                            InternalDone on_done, base::TimePoint now) {
    LookupId id = next_lookup_id_++;
    auto lookup = std::make_unique<Lookup>(id, kind, target, cfg_, now, collect_tokens);
    lookup->add_candidates(table_.closest(target, cfg_.k), 1, self_);
    table_.touch_bucket_for(target, now);
    lookups_.emplace(id, std::move(lookup));
    lookup_done_.emplace(id, std::move(on_done));
    ++stats_.lookups_started;
    pump_lookup(id, now);
    return id;
}

void Node::pump_lookup(LookupId id, base::TimePoint now) {
    auto it = lookups_.find(id);
    if (it == lookups_.end()) return;
    Lookup& l = *it->second;
    for (size_t idx : l.next_queries(now)) {
        Message q;
        q.method = l.kind() == Lookup::Kind::find_node    ? Method::find_node
                   : l.kind() == Lookup::Kind::find_value ? Method::find_value
                                                          : Method::mbox_get;
        q.target = l.target();
        NodeInfo peer = l.node(idx);
        size_t attempt = l.attempt_of(idx);
        rpc_.send_query(
            q, peer.endpoint, &peer.id,
            [this, id, idx, attempt, peer](const RpcEvent& ev) {
                auto it = lookups_.find(id);
                Lookup* l = it == lookups_.end() ? nullptr : it->second.get();
                switch (ev.type) {
                    case RpcEvent::Type::reply:
                        if (l) l->on_reply(idx, attempt, *ev.msg, self_, ev.rtt);
                        if (l) stop_if_filled(id, *l);
                        break;
                    case RpcEvent::Type::error:
                        if (l) l->on_error(idx, attempt, ev.rtt);
                        break;
                    case RpcEvent::Type::short_timeout:
                        if (l) l->on_short_timeout(idx);
                        break;
                    case RpcEvent::Type::timeout:
                        contact_failed(peer.id);
                        if (l) l->on_timeout(idx, attempt, ev.rtt);
                        break;
                }
                if (l) pump_lookup(id, ev.now);
            },
            now);
    }
    if (l.done()) finish_lookup(id, now);
}

void Node::stop_if_filled(LookupId id, Lookup& l) {
    auto f = filling_.find(id);
    if (f == filling_.end()) return;
    const auto& buckets = table_.buckets();
    if (f->second < buckets.size() && buckets[f->second].live.size() >= cfg_.refresh_enough) l.stop();
}

void Node::finish_lookup(LookupId id, base::TimePoint now) {
    filling_.erase(id);
    auto it = lookups_.find(id);
    if (it == lookups_.end()) return;
    LookupResult r = it->second->result(now);
    lookups_.erase(it);
    auto done = lookup_done_.find(id);
    auto fn = std::move(done->second);
    lookup_done_.erase(done);
    (r.found ? stats_.lookups_found : stats_.lookups_failed)++;
    KC_LOG(log_, debug, "dht.lookup", "lookup %s: found=%d hops=%d messages=%zu",
           r.target.short_hex().c_str(), r.found, r.hops, r.messages);
    defer([fn = std::move(fn), r = std::move(r)](base::TimePoint t) { fn(r, t); });
}

LookupId Node::find_node(const NodeId& target, LookupDone done, base::TimePoint now) {
    // Our own ID: the lookup still shows our neighbourhood, and the node is found (it is us).
    bool self = target == self_;
    return start_lookup(Lookup::Kind::find_node, target, false,
                        [done = std::move(done), self](const LookupResult& r, base::TimePoint) {
                            if (!self) return done(r);
                            LookupResult mine = r;
                            mine.found = true;
                            mine.hops = 0;
                            done(mine);
                        },
                        now);
}

LookupId Node::get(const Key& key, LookupDone done, base::TimePoint now) {
    // We may be one of the k closest nodes ourselves: a lookup never asks itself.
    auto local = storage_->get(key, now, cfg_.max_values_per_reply);
    if (!local.empty()) {
        LookupResult r;
        r.id = next_lookup_id_++;
        r.target = key;
        r.found = true;
        for (auto& v : local) r.values.push_back(record_of(v, now));
        ++stats_.lookups_found;
        defer([done = std::move(done), r = std::move(r)](base::TimePoint) { done(r); });
        return r.id;
    }
    return start_lookup(Lookup::Kind::find_value, key, false,
                        [done = std::move(done)](const LookupResult& r, base::TimePoint) { done(r); }, now);
}

base::TimePoint Node::tick(base::TimePoint now) {
    clock_ = now;
    base::TimePoint next = rpc_.tick(now);
    // A node that started a network becomes connected once others have joined through it.
    if (join_state_ == JoinState::alone && table_.size() > 0) join_state_ = JoinState::connected;
    next = std::min(next, nat_tick(now));
    if (now >= next_expiry_) next_expiry_ = std::min(storage_->expire(now), mailboxes_.expire(now));
    if (now >= next_refresh_check_) {
        next_refresh_check_ = now + kHousekeeping;
        if (table_.size() > 0 && !join_in_progress_) {
            for (int prefix : table_.take_refresh_due(now, cfg_.bucket_refresh)) {
                NodeId target = random_with_prefix(self_, prefix, rng_);
                start_lookup(Lookup::Kind::find_node, target, false, [](const LookupResult&, base::TimePoint) {}, now);
            }
        }
        republish_due(now);
    }
    if (now >= next_handoff_) hand_on_mailboxes(now);
    base::TimePoint due = hand_on_due(now);
    bootstrap_tick(now);
    refresh_after_join(now);
    // Callbacks registered before this tick; ones they register wait for the next.
    auto ready = std::move(completions_);
    completions_.clear();
    for (auto& fn : ready) fn(now);
    if (!completions_.empty()) return now;
    base::TimePoint rejoin = join_state_ == JoinState::isolated && !join_in_progress_ ? next_bootstrap_ : base::kNever;
    next = std::min({next, next_expiry_, next_handoff_, due, next_refresh_check_, rejoin, join_refresh_at_, join_relookup_at_});
    return std::max(next, now);
}

}  // namespace dht
