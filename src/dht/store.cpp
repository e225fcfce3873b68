// put: a find_value lookup that collects write tokens from the k closest nodes, then a store
// query to each of them. The publisher republishes every Config::republish_interval until the
// value's lifetime ends, so nodes that became closer meanwhile receive it too.
#include <algorithm>

#include "dht/node.hpp"

namespace dht {

namespace {
uint32_t seconds(base::Duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    return static_cast<uint32_t>(std::max<int64_t>(s, 1));
}
}  // namespace

// The size of the store query that would carry `value` (a 64-character token, the longest
// allowed, and a MAC): quotes and control characters grow when escaped.
size_t Node::store_bytes(const Key& key, const std::string& value, base::Duration ttl) const {
    Message q;
    q.method = Method::store;
    q.txid = 1;
    q.sender = self_;
    q.read_only = true;
    q.target = key;
    q.token = std::string(64, '0');
    q.value = value;
    q.ttl_s = seconds(ttl);
    return encode_general(q).size() + 45;  // + ,"mac":"<32 hex>"}
}

void Node::put(const Key& key, std::string value, base::Duration ttl, PutDone done,
               base::TimePoint now) {
    ttl = std::clamp(ttl, base::Duration{std::chrono::seconds(1)}, cfg_.max_ttl);
    if (value.size() > cfg_.max_value_size || store_bytes(key, value, ttl) > kMaxDatagram) {
        PutResult r;
        r.key = key;
        r.errors.push_back(value.size() > cfg_.max_value_size
                               ? "value of " + std::to_string(value.size()) + " bytes exceeds the limit of " +
                                     std::to_string(cfg_.max_value_size) + " bytes"
                               : "value does not fit one datagram once escaped for JSON (" +
                                     std::to_string(store_bytes(key, value, ttl)) + " of " +
                                     std::to_string(kMaxDatagram) + " bytes)");
        defer([done = std::move(done), r = std::move(r)](base::TimePoint) { done(r); });
        return;
    }
    published_[key] = Published{value, now + ttl, now + std::min(cfg_.republish_interval, ttl / 2)};
    start_lookup(
        Lookup::Kind::find_value, key, true,
        [this, key, value = std::move(value), ttl, done = std::move(done)](const LookupResult& r,
                                                                          base::TimePoint t) mutable {
            store_at(key, value, ttl, r, std::move(done), t);
        },
        now);
}

void Node::store_at(const Key& key, const std::string& value, base::Duration ttl,
                    const LookupResult& r, PutDone done, base::TimePoint now) {
    Message q;
    q.method = Method::store;
    q.target = key;
    q.value = value;
    q.ttl_s = seconds(ttl);
    write_to_closest(
        q, r, [this, key, value, ttl](base::TimePoint now) { return storage_->put(key, self_, value, now, now + ttl); },
        ttl, std::move(done), now);
}

void Node::write_to_closest(Message q, const LookupResult& r, std::function<base::Status(base::TimePoint)> keep_here,
                            base::Duration ttl, PutDone done, base::TimePoint now) {
    struct Progress {
        PutResult result;
        size_t outstanding = 0;
        PutDone done;
    };
    auto progress = std::make_shared<Progress>();
    progress->result.key = q.target;
    progress->result.lookup = r;
    progress->done = std::move(done);
    // Keep a copy ourselves when we are among the k closest to the key.
    bool self_close = r.closest.size() < cfg_.k || closer(self_, r.closest.back().id, q.target);
    if (self_close) {
        auto st = keep_here(now);
        if (st.ok()) {
            ++progress->result.stored;
            progress->result.stored_here = true;
            next_expiry_ = std::min(next_expiry_, now + ttl);
        } else {
            progress->result.errors.push_back("this node: " + st.detail());
        }
    }
    if (r.closest.empty()) {
        progress->result.errors.push_back(table_.size() == 0
                                              ? "no contacts: the node has not joined a network"
                                              : "no node answered the lookup");
    }
    for (size_t i = 0; i < r.closest.size(); ++i) {
        if (r.tokens[i].empty()) continue;
        q.token = r.tokens[i];
        NodeId peer = r.closest[i].id;
        ++progress->outstanding;
        ++progress->result.attempted;
        rpc_.send_query(
            q, r.closest[i].endpoint, &peer,
            [this, progress, peer](const RpcEvent& ev) {
                if (ev.type == RpcEvent::Type::short_timeout) return;
                if (ev.type == RpcEvent::Type::reply) {
                    ++progress->result.stored;
                } else if (ev.type == RpcEvent::Type::error) {
                    progress->result.errors.push_back(peer.short_hex() + ": error " +
                                                      std::to_string(ev.msg->error_code) + " " +
                                                      ev.msg->error_msg);
                } else {
                    contact_failed(peer);
                    progress->result.errors.push_back(peer.short_hex() + ": timeout");
                }
                if (--progress->outstanding == 0)
                    defer([progress](base::TimePoint) { progress->done(progress->result); });
            },
            now);
    }
    if (progress->outstanding == 0)
        defer([progress](base::TimePoint) { progress->done(progress->result); });
}

void Node::republish_due(base::TimePoint now) {
    for (auto it = published_.begin(); it != published_.end();) {
        Published& p = it->second;
        if (now >= p.expires_at) {
            it = published_.erase(it);
            continue;
        }
        if (now >= p.next_republish && table_.size() > 0) {
            base::Duration left = p.expires_at - now;
            p.next_republish = now + std::min(cfg_.republish_interval, std::max(left / 2, base::Duration{std::chrono::seconds(1)}));
            Key key = it->first;
            std::string value = p.value;
            start_lookup(
                Lookup::Kind::find_value, key, true,
                [this, key, value, left](const LookupResult& r, base::TimePoint t) {
                    store_at(key, value, left, r, [](const PutResult&) {}, t);
                },
                now);
        }
        ++it;
    }
}

}  // namespace dht
