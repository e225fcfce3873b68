// Mailboxes for offline recipients (PROTOCOL.md §14): mbox_put, mbox_get, mbox_del on the wire,
// and the three operations a chat node uses. Storing is like `store` (a write token proves the
// sender's address); removal needs no token because the datagram's authenticator already
// proves the sender's ID, and only the ID whose mailbox_key is `key` may remove.
#include <algorithm>

#include "dht/mailbox_parts.hpp"
#include "dht/node.hpp"

namespace dht {

namespace {
uint32_t whole_seconds(base::Duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    return static_cast<uint32_t>(std::max<int64_t>(s, 1));
}
ValueRecord record_of(const MailboxItem& i, base::TimePoint now) {
    return {i.sender, i.data, whole_seconds(i.expires_at - now), i.slot};
}
void add_item(std::vector<ValueRecord>& into, ValueRecord v) {
    bool dup = std::any_of(into.begin(), into.end(),
                           [&](auto& x) { return x.publisher == v.publisher && x.slot == v.slot; });
    if (!dup) into.push_back(std::move(v));
}
std::span<const uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
// Slot characters of one mbox_del query: with its other members it fits kMaxDatagram.
constexpr size_t kMaxDelSlotBytes = 800;
}  // namespace

void Node::handle_mbox_put(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    if (!tokens_.valid(q.token, from, now)) {
        ++stats_.values_refused;
        return send_error(q, from, kErrBadToken, "bad or expired token");
    }
    // The item's author signed it with its expiry; whoever hands it on cannot prolong it.
    NodeId author = q.author.value_or(q.sender);
    auto left_s = static_cast<int64_t>(static_cast<int32_t>(q.exp - wall_seconds(now, wall_offset_)));
    auto max_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.max_mailbox_ttl + cfg_.query_window).count();
    if (left_s <= 0 || left_s > max_s) {
        ++stats_.mailbox_bad_item;
        return send_error(q, from, kErrProtocol, left_s <= 0 ? "item expired" : "item expiry too far ahead");
    }
    if (!auth_.verify(author, bytes_of(item_signed_bytes(q.target, author, q.slot, q.exp, q.value)), q.isig)) {
        ++stats_.mailbox_bad_item;
        return send_error(q, from, kErrProtocol, "bad item signature");
    }
    auto expires = now + std::chrono::seconds(left_s);
    auto st = mailboxes_.put(q.target, author, q.slot, q.value, now, expires, q.exp, q.isig);
    if (!st.ok()) {
        ++stats_.values_refused;
        return send_error(q, from, st.code() == base::Errc::too_large ? kErrValueTooLarge : kErrStorageFull,
                          st.detail());
    }
    ++stats_.mailbox_stored;
    next_expiry_ = std::min(next_expiry_, expires);
    next_handoff_ = std::min(next_handoff_, now + cfg_.mailbox_republish);
    rpc_.send_response(reply_to(q, from), from, q.sender);
}

void Node::handle_mbox_get(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    Message r = reply_to(q, from);
    // Asked on a lookup, the reply carries contacts too; a page ("skip") only items.
    if (!q.skip) {
        r.has_nodes = true;
        r.nodes = table_.closest(q.target, cfg_.k);
    }
    size_t left = 0;
    auto items = mailboxes_.get(q.target, now, kMaxDatagram, q.skip.value_or(0), &left);
    if (!items.empty()) {
        r.has_values = true;
        for (auto& i : items) r.values.push_back(record_of(i, now));
    }
    r.more = left > 0;  // Rpc::send_response sets it too if it must cut items to fit
    rpc_.send_response(r, from, q.sender);
}

void Node::handle_mbox_del(const Message& q, const base::Endpoint& from, base::TimePoint) {
    if (mailbox_key(q.sender) != q.target) {
        ++stats_.mailbox_refused;
        return send_error(q, from, kErrNotOwner, "only the mailbox's owner may remove its items");
    }
    stats_.mailbox_removed += mailboxes_.remove(q.target, q.slots);
    rpc_.send_response(reply_to(q, from), from, q.sender);
}

void Node::mailbox_put(const NodeId& owner, const std::string& slot, std::string value, base::Duration ttl,
                       PutDone done, base::TimePoint now) {
    Key key = mailbox_key(owner);
    ttl = std::clamp(ttl, base::Duration{std::chrono::seconds(1)}, cfg_.max_mailbox_ttl);
    auto parts = split_item(slot, value);
    // find_value gathers the write tokens (valid for any write) without fetching the items.
    LookupId id = start_lookup(
        Lookup::Kind::find_value, key, true,
        [this, key, parts = std::move(parts), ttl, done = std::move(done)](const LookupResult& r,
                                                                          base::TimePoint now) {
            // An item in parts is as stored as its least stored part.
            struct Progress {
                size_t left;
                PutResult result;
                PutDone done;
            };
            auto p = std::make_shared<Progress>(Progress{parts.size(), {}, std::move(done)});
            for (size_t i = 0; i < parts.size(); ++i) {
                Message q;
                q.method = Method::mbox_put;
                q.target = key;
                q.slot = parts[i].slot;
                q.value = parts[i].data;
                q.exp = wall_seconds(now + ttl, wall_offset_);
                q.isig = auth_.sign(bytes_of(item_signed_bytes(key, self_, q.slot, q.exp, q.value)));
                write_to_closest(
                    q, r,
                    [this, key, q, ttl](base::TimePoint now) {
                        next_handoff_ = std::min(next_handoff_, now + cfg_.mailbox_republish);
                        return mailboxes_.put(key, self_, q.slot, q.value, now, now + ttl, q.exp, q.isig);
                    },
                    ttl,
                    [p, first = i == 0](const PutResult& one) {
                        if (first) {
                            p->result = one;
                        } else {
                            p->result.stored = std::min(p->result.stored, one.stored);
                            p->result.stored_here = p->result.stored_here && one.stored_here;
                            p->result.attempted = std::max(p->result.attempted, one.attempted);
                            for (auto& e : one.errors) p->result.errors.push_back(e);
                        }
                        if (--p->left == 0) p->done(p->result);
                    },
                    now);
            }
        },
        now);
    if (auto it = lookups_.find(id); it != lookups_.end()) it->second->set_impatient();
}

// Holder republish: items here that nobody has refreshed for a republish interval go to the
// key's current k closest nodes, found by a lookup (which also brings their write tokens). A
// holder that received an item recently skips it: whoever sent it already reached the closest
// nodes, so in a stable neighbourhood about one holder per interval does the work.
void Node::hand_on_mailboxes(base::TimePoint now) {
    next_handoff_ = base::kNever;
    if (table_.size() == 0) {
        if (mailboxes_.size() > 0) next_handoff_ = now + cfg_.mailbox_republish;
        return;
    }
    for (auto& key : mailboxes_.keys()) hand_on(key, now - cfg_.mailbox_republish, now);
    // Jittered, so that the holders of one key do not all hand on at the same moment.
    auto spread = std::chrono::duration_cast<base::Duration>(cfg_.mailbox_republish / 8);
    if (mailboxes_.size() > 0)
        next_handoff_ = now + cfg_.mailbox_republish +
                        base::Duration{static_cast<int64_t>(rng_.uniform(static_cast<uint64_t>(spread.count()) + 1))};
}

void Node::hand_on(const Key& key, base::TimePoint unrefreshed_since, base::TimePoint now) {
    auto items = mailboxes_.take_unrefreshed(key, unrefreshed_since, now);
    if (items.empty()) return;
    start_lookup(
        Lookup::Kind::find_value, key, true,
        [this, key, items = std::move(items)](const LookupResult& r, base::TimePoint now) {
            for (auto& item : items) {
                Message q;
                q.method = Method::mbox_put;
                q.target = key;
                q.slot = item.slot;
                q.value = item.data;
                q.exp = item.exp;
                q.isig = item.sig;
                if (item.sender != self_) q.author = item.sender;
                stats_.mailbox_handed_on += r.closest.size();
                // Already kept here: the lookup only says where else it belongs.
                write_to_closest(q, r, [](base::TimePoint) { return base::Status{}; },
                                 std::max<base::Duration>(item.expires_at - now, base::Duration{1}),
                                 [](const PutResult&) {}, now);
            }
        },
        now);
}

// The neighbourhood changed: a node that just answered us for the first time (Node::on_datagram)
// is among the k closest we know to a mailbox we hold, so it should hold that mailbox too
// (Kademlia: a new node gets the values it is among the closest to). The hand-on runs a little
// later, so that one lookup serves the newcomers of a burst; it skips items another holder handed to us since the change (that holder
// reached the newcomers); and a key is handed on this way at most once per mailbox_handoff_gap.
void Node::neighbour_added(const NodeId& id, base::TimePoint now) {
    if (mailboxes_.size() == 0) return;
    for (auto& key : mailboxes_.keys()) {
        if (handoff_due_.count(key) || handoff_due_.size() >= kMaxHandoffsDue) continue;
        if (auto q = handoff_quiet_.find(key); q != handoff_quiet_.end()) {
            if (now < q->second) continue;
            handoff_quiet_.erase(q);
        }
        auto closest = table_.closest(key, cfg_.k);
        bool near = closest.size() < cfg_.k ||
                    std::any_of(closest.begin(), closest.end(), [&](auto& c) { return c.id == id; });
        if (!near) continue;
        auto spread = static_cast<uint64_t>(cfg_.mailbox_handoff_delay.count());
        handoff_due_[key] = {now + cfg_.mailbox_handoff_delay + base::Duration{static_cast<int64_t>(rng_.uniform(spread + 1))},
                             now};
    }
}

base::TimePoint Node::hand_on_due(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    for (auto it = handoff_due_.begin(); it != handoff_due_.end();) {
        if (now < it->second.at) {
            next = std::min(next, it->second.at);
            ++it;
            continue;
        }
        hand_on(it->first, it->second.since, now);
        if (handoff_quiet_.size() >= kMaxHandoffsDue) std::erase_if(handoff_quiet_, [&](auto& q) { return q.second <= now; });
        if (handoff_quiet_.size() < kMaxHandoffsDue) handoff_quiet_[it->first] = now + cfg_.mailbox_handoff_gap;
        it = handoff_due_.erase(it);
    }
    return next;
}

void Node::mailbox_fetch(LookupDone done, base::TimePoint now) {
    Key key = mailbox_key(self_);
    start_lookup(
        Lookup::Kind::mailbox, key, true,
        [this, key, done = std::move(done)](const LookupResult& r, base::TimePoint now) {
            struct Fetch {
                LookupResult out;
                size_t paging = 0;
                LookupDone done;
            };
            auto f = std::make_shared<Fetch>(Fetch{r, 0, std::move(done)});
            auto finish = [this, key, f](base::TimePoint now) {
                // Items this node keeps for itself (it is among the k closest to its own mailbox).
                for (auto& i : mailboxes_.get(key, now, SIZE_MAX)) add_item(f->out.values, record_of(i, now));
                auto joined = join_items(f->out.values);
                if (part_slots_.size() > kMaxPartSets) part_slots_.clear();
                for (auto& [slot, names] : joined.parts) part_slots_[slot] = names;
                f->out.values = std::move(joined.items);
                f->out.found = !f->out.values.empty();
                f->done(f->out);
            };
            // Holders that said "more" are asked page by page, each from where it left off.
            for (auto& [holder, given] : r.more) {
                ++f->paging;
                fetch_pages(key, holder, given, 0, f->out.values, [f, finish](base::TimePoint now) {
                    if (--f->paging == 0) finish(now);
                }, now);
            }
            if (f->paging == 0) finish(now);
        },
        now);
}

void Node::fetch_pages(const Key& key, const NodeInfo& holder, size_t skip, size_t pages,
                       std::vector<ValueRecord>& into, std::function<void(base::TimePoint)> then,
                       base::TimePoint now) {
    Message q;
    q.method = Method::mbox_get;
    q.target = key;
    q.skip = static_cast<uint32_t>(skip);
    NodeId peer = holder.id;
    rpc_.send_query(
        q, holder.endpoint, &peer,
        [this, key, holder, skip, pages, &into, then = std::move(then)](const RpcEvent& ev) {
            if (ev.type == RpcEvent::Type::short_timeout) return;
            if (ev.type != RpcEvent::Type::reply) return defer([then](base::TimePoint now) { then(now); });
            for (auto& v : ev.msg->values) add_item(into, v);
            // An item too large for any page is passed over rather than asked for forever.
            size_t next = skip + std::max<size_t>(ev.msg->values.size(), 1);
            if (ev.msg->more && pages + 1 < cfg_.max_items_per_mailbox) {
                auto now = ev.now;
                return fetch_pages(key, holder, next, pages + 1, into, then, now);
            }
            defer([then](base::TimePoint now) { then(now); });
        },
        now);
}

void Node::mailbox_remove(const std::vector<NodeInfo>& holders, const std::vector<std::string>& whole,
                          std::function<void(size_t)> done, base::TimePoint now) {
    Key key = mailbox_key(self_);
    // An item that came in parts is removed part by part.
    std::vector<std::string> slots;
    for (auto& s : whole) {
        auto it = part_slots_.find(s);
        if (it == part_slots_.end()) {
            slots.push_back(s);
            continue;
        }
        slots.insert(slots.end(), it->second.begin(), it->second.end());
        part_slots_.erase(it);
    }
    stats_.mailbox_removed += mailboxes_.remove(key, slots);
    struct Progress {
        size_t outstanding = 0, confirmed = 0;
        std::function<void(size_t)> done;
    };
    auto p = std::make_shared<Progress>();
    p->done = std::move(done);
    // A removal names at most 64 slots (PROTOCOL.md §14) in at most kMaxDatagram bytes: more go
    // in several queries.
    for (size_t from = 0; from < slots.size();) {
        std::vector<std::string> part;
        size_t bytes = 0;
        while (from < slots.size() && part.size() < 64 && (part.empty() || bytes + slots[from].size() + 3 <= kMaxDelSlotBytes)) {
            bytes += slots[from].size() + 3;
            part.push_back(slots[from++]);
        }
        for (auto& h : holders) {
            Message q;
            q.method = Method::mbox_del;
            q.target = key;
            q.slots = part;
            NodeId peer = h.id;
            ++p->outstanding;
            rpc_.send_query(
                q, h.endpoint, &peer,
                [this, p](const RpcEvent& ev) {
                    if (ev.type == RpcEvent::Type::short_timeout) return;
                    if (ev.type == RpcEvent::Type::reply) ++p->confirmed;
                    if (--p->outstanding == 0) defer([p](base::TimePoint) { p->done(p->confirmed); });
                },
                now);
        }
    }
    if (p->outstanding == 0) defer([p](base::TimePoint) { p->done(p->confirmed); });
}

}  // namespace dht
