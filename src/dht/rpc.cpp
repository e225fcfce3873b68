#include "dht/rpc.hpp"

#include <vector>

namespace dht {

namespace {
std::span<const uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

Rpc::Rpc(const Config& cfg, Transport& transport, Authenticator& auth, base::Rng& rng, Stats& stats)
    : cfg_{cfg}, transport_{transport}, auth_{auth}, rng_{rng}, stats_{stats} {}

uint64_t Rpc::send_query(Message m, const base::Endpoint& to, const NodeId* peer,
                         RpcHandler handler, base::TimePoint now) {
    do {
        m.txid = rng_.next_u64();
    } while (m.txid == 0 || pending_.count(m.txid));
    m.kind = Kind::query;
    m.sender = auth_.self();
    std::string dg = encode(m, auth_, peer);
    pending_.emplace(m.txid, Pending{peer ? std::optional{*peer} : std::nullopt, to, m.method, now,
                                     false, std::move(handler)});
    stats_.by_method[static_cast<size_t>(m.method)].query_out.add(dg.size());
    stats_.out.add(dg.size());
    transport_.send(to, bytes_of(dg));
    return m.txid;
}

void Rpc::send_response(const Message& m, const base::Endpoint& to, const NodeId& peer) {
    std::string dg = encode(m, auth_, &peer);
    auto& ms = stats_.by_method[static_cast<size_t>(m.method)];
    (m.kind == Kind::error ? ms.error_out : ms.reply_out).add(dg.size());
    stats_.out.add(dg.size());
    transport_.send(to, bytes_of(dg));
}

std::optional<base::Duration> Rpc::match(const Message& m, const base::Endpoint& from,
                                         base::TimePoint now) const {
    auto it = pending_.find(m.txid);
    if (it == pending_.end()) return std::nullopt;
    const Pending& p = it->second;
    if (p.peer ? *p.peer != m.sender : p.to != from) return std::nullopt;
    return now - p.sent;
}

bool Rpc::on_response(const Message& m, const base::Endpoint& from, base::TimePoint now) {
    auto it = pending_.find(m.txid);
    if (it == pending_.end()) return false;
    Pending& p = it->second;
    // A known peer must answer under its own ID; an unknown one (bootstrap) from the address asked.
    if (p.peer ? *p.peer != m.sender : p.to != from) return false;
    Pending done = std::move(p);
    pending_.erase(it);
    auto& ms = stats_.by_method[static_cast<size_t>(done.method)];
    (m.kind == Kind::error ? ms.error_in : ms.reply_in).add(0);
    RpcEvent ev{m.kind == Kind::error ? RpcEvent::Type::error : RpcEvent::Type::reply, &m, from,
                now - done.sent, now};
    done.handler(ev);
    return true;
}

base::TimePoint Rpc::tick(base::TimePoint now) {
    // Collect first: handlers may send new queries and so modify pending_.
    std::vector<uint64_t> short_due, full_due;
    base::TimePoint next = base::kNever;
    for (auto& [txid, p] : pending_) {
        base::TimePoint full_at = p.sent + cfg_.full_timeout;
        base::TimePoint short_at = p.sent + cfg_.short_timeout;
        if (now >= full_at) {
            full_due.push_back(txid);
        } else {
            if (!p.short_fired && now >= short_at) short_due.push_back(txid);
            next = std::min(next, p.short_fired || now >= short_at ? full_at : short_at);
        }
    }
    for (auto txid : short_due) {
        auto it = pending_.find(txid);
        if (it == pending_.end()) continue;
        it->second.short_fired = true;
        ++stats_.short_timeouts;
        RpcEvent ev{RpcEvent::Type::short_timeout, nullptr, it->second.to, now - it->second.sent, now};
        auto handler = it->second.handler;  // copy: the handler may cause erasure
        handler(ev);
    }
    for (auto txid : full_due) {
        auto it = pending_.find(txid);
        if (it == pending_.end()) continue;
        Pending done = std::move(it->second);
        pending_.erase(it);
        ++stats_.by_method[static_cast<size_t>(done.method)].timeouts;
        RpcEvent ev{RpcEvent::Type::timeout, nullptr, done.to, now - done.sent, now};
        done.handler(ev);
    }
    if (!short_due.empty() || !full_due.empty()) {
        // Handlers may have added requests; recompute.
        next = base::kNever;
        for (auto& [txid, p] : pending_) {
            base::TimePoint at = p.short_fired ? p.sent + cfg_.full_timeout : p.sent + cfg_.short_timeout;
            next = std::min(next, at);
        }
    }
    return next;
}

}  // namespace dht
