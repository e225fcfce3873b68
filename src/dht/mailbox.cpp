// Mailboxes for offline recipients (PROTOCOL.md §14): mbox_put, mbox_get, mbox_del on the wire,
// and the three operations a chat node uses. Storing is like `store` (a write token proves the
// sender's address); removal needs no token because the datagram's authenticator already
// proves the sender's ID, and only the ID whose mailbox_key is `key` may remove.
#include <algorithm>

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
}  // namespace

void Node::handle_mbox_put(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    if (!tokens_.valid(q.token, from, now)) {
        ++stats_.values_refused;
        return send_error(q, from, kErrBadToken, "bad or expired token");
    }
    auto ttl = std::min<base::Duration>(std::chrono::seconds(std::max<uint32_t>(q.ttl_s, 1)), cfg_.max_mailbox_ttl);
    auto st = mailboxes_.put(q.target, q.sender, q.slot, q.value, now, now + ttl);
    if (!st.ok()) {
        ++stats_.values_refused;
        return send_error(q, from, st.code() == base::Errc::too_large ? kErrValueTooLarge : kErrStorageFull,
                          st.detail());
    }
    ++stats_.mailbox_stored;
    next_expiry_ = std::min(next_expiry_, now + ttl);
    rpc_.send_response(reply_to(q, from), from, q.sender);
}

void Node::handle_mbox_get(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    Message r = reply_to(q, from);
    r.has_nodes = true;
    r.nodes = table_.closest(q.target, cfg_.k);
    auto items = mailboxes_.get(q.target, now, cfg_.mailbox_reply_bytes);
    if (!items.empty()) {
        r.has_values = true;
        for (auto& i : items) r.values.push_back(record_of(i, now));
    }
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
    // find_value gathers the write tokens (valid for any write) without fetching the items.
    LookupId id = start_lookup(
        Lookup::Kind::find_value, key, true,
        [this, key, slot, value = std::move(value), ttl, done = std::move(done)](const LookupResult& r,
                                                                                base::TimePoint now) {
            Message q;
            q.method = Method::mbox_put;
            q.target = key;
            q.slot = slot;
            q.value = value;
            q.ttl_s = whole_seconds(ttl);
            write_to_closest(
                q, r,
                [this, key, slot, value, ttl](base::TimePoint now) {
                    return mailboxes_.put(key, self_, slot, value, now, now + ttl);
                },
                ttl, done, now);
        },
        now);
    if (auto it = lookups_.find(id); it != lookups_.end()) it->second->set_impatient();
}

void Node::mailbox_fetch(LookupDone done, base::TimePoint now) {
    Key key = mailbox_key(self_);
    start_lookup(
        Lookup::Kind::mailbox, key, true,
        [this, key, done = std::move(done)](const LookupResult& r, base::TimePoint now) {
            LookupResult out = r;
            // Items this node keeps for itself (it is among the k closest to its own mailbox).
            for (auto& i : mailboxes_.get(key, now, cfg_.mailbox_reply_bytes)) {
                auto rec = record_of(i, now);
                bool dup = std::any_of(out.values.begin(), out.values.end(), [&](auto& v) {
                    return v.publisher == rec.publisher && v.slot == rec.slot;
                });
                if (!dup) out.values.push_back(std::move(rec));
            }
            out.found = !out.values.empty();
            done(out);
        },
        now);
}

void Node::mailbox_remove(const std::vector<NodeInfo>& holders, const std::vector<std::string>& slots,
                          std::function<void(size_t)> done, base::TimePoint now) {
    Key key = mailbox_key(self_);
    stats_.mailbox_removed += mailboxes_.remove(key, slots);
    struct Progress {
        size_t outstanding = 0, confirmed = 0;
        std::function<void(size_t)> done;
    };
    auto p = std::make_shared<Progress>();
    p->done = std::move(done);
    // A removal names at most 64 slots (PROTOCOL.md §14); more go in several queries.
    for (size_t from = 0; from < slots.size(); from += 64) {
        std::vector<std::string> part(slots.begin() + static_cast<std::ptrdiff_t>(from),
                                      slots.begin() + static_cast<std::ptrdiff_t>(std::min(slots.size(), from + 64)));
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
