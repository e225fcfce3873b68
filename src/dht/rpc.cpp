#include "dht/rpc.hpp"

#include <algorithm>
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
                         RpcHandler handler, base::TimePoint now, base::Duration short_timeout) {
    const uint64_t clock = uint64_t{wall_seconds(now, wall_offset_)} << 32;
    do {
        m.txid = clock | (rng_.next_u64() & 0xffffffffu);
    } while (m.txid == clock || pending_.count(m.txid));
    m.kind = Kind::query;
    m.sender = auth_.self();
    m.read_only = read_only_;
    std::string dg = encode(m, auth_, peer);
    // Queries with large replies are padded: an address that has not yet proved to the replier
    // that it receives there gets at most 3x what it sent (PROTOCOL.md §7, amplification).
    constexpr size_t kPadMember = 9;  // ,"pad":""
    bool large_reply = m.method == Method::find_node || m.method == Method::find_value || m.method == Method::mbox_get;
    if (large_reply && dg.size() + kPadMember < kPaddedQuery) {
        m.pad = kPaddedQuery - dg.size() - kPadMember;
        dg = encode(m, auth_, peer);
    }
    if (short_timeout <= base::Duration{0}) short_timeout = cfg_.short_timeout;
    due_ = std::min(due_, now + std::min(short_timeout, cfg_.full_timeout));
    pending_.emplace(m.txid, Pending{peer ? std::optional{*peer} : std::nullopt, to, m.method, now,
                                     short_timeout, false, std::move(handler)});
    stats_.by_method[static_cast<size_t>(m.method)].query_out.add(dg.size());
    stats_.out.add(dg.size());
    transport_.send(to, bytes_of(dg));
    return m.txid;
}

void Rpc::send_response(const Message& msg, const base::Endpoint& to, const NodeId& peer) {
    Message m = msg;
    m.read_only = read_only_;
    std::string dg = encode(m, auth_, &peer);
    // A reply that would not fit one datagram on a real path (PROTOCOL.md §1) is cut, least
    // useful first: its farthest contacts down to kMinReplyNodes, then its last values down to
    // one (the lists are ordered so that the tail matters least), then the remaining contacts
    // (values are what the asker came for), then the last value. An mbox_get reply that left
    // items out says "more", and the asker pages on with "skip".
    auto cut_value = [&] {
        m.values.pop_back();
        if (m.method == Method::mbox_get) m.more = true;
    };
    const size_t budget = std::min(reply_budget_, kMaxDatagram);
    while (dg.size() > budget && (!m.values.empty() || !m.nodes.empty())) {
        if (m.nodes.size() > kMinReplyNodes) {
            // ~90 bytes a contact: drop about as many as the excess needs, at least one
            size_t drop = std::clamp<size_t>((dg.size() - budget) / 100, 1, m.nodes.size() - kMinReplyNodes);
            m.nodes.resize(m.nodes.size() - drop);
        } else if (m.values.size() > 1) {
            cut_value();
        } else if (!m.nodes.empty()) {
            m.nodes.pop_back();
        } else {
            cut_value();
        }
        dg = encode(m, auth_, &peer);
    }
    auto& ms = stats_.by_method[static_cast<size_t>(m.method)];
    if (m.kind == Kind::error && m.error_code == kErrMethodUnknown)
        stats_.unknown_method_out.add(dg.size());
    else
        (m.kind == Kind::error ? ms.error_out : ms.reply_out).add(dg.size());
    stats_.out.add(dg.size());
    transport_.send(to, bytes_of(dg));
}

Rpc::PendingMap::const_iterator Rpc::find_match(const Message& m, const base::Endpoint& from) const {
    auto it = pending_.find(m.txid);
    if (it == pending_.end()) return it;
    const Pending& p = it->second;
    if (p.peer ? *p.peer != m.sender : p.to != from) return pending_.end();
    return it;
}

std::optional<base::Duration> Rpc::match(const Message& m, const base::Endpoint& from,
                                         base::TimePoint now) const {
    auto it = find_match(m, from);
    if (it == pending_.end()) return std::nullopt;
    return now - it->second.sent;
}

bool Rpc::on_response(const Message& m, const base::Endpoint& from, size_t bytes, base::TimePoint now) {
    auto it = find_match(m, from);
    if (it == pending_.end()) return false;
    Pending done = std::move(pending_.extract(it).mapped());
    auto& ms = stats_.by_method[static_cast<size_t>(done.method)];
    (m.kind == Kind::error ? ms.error_in : ms.reply_in).add(bytes);
    RpcEvent ev{m.kind == Kind::error ? RpcEvent::Type::error : RpcEvent::Type::reply, &m, from,
                now - done.sent, now};
    done.handler(ev);
    return true;
}

base::TimePoint Rpc::tick(base::TimePoint now) {
    // The node ticks after every datagram; the scan of every pending request waits for the
    // earliest deadline (one answered since leaves it early: an early tick is harmless).
    if (now < due_) return due_;
    // Collect first: handlers may send new queries and so modify pending_.
    std::vector<uint64_t> short_due, full_due;
    for (auto& [txid, p] : pending_) {
        if (now >= p.sent + cfg_.full_timeout)
            full_due.push_back(txid);
        else if (!p.short_fired && now >= p.sent + p.short_after)
            short_due.push_back(txid);
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
        Pending done = std::move(pending_.extract(it).mapped());
        ++stats_.by_method[static_cast<size_t>(done.method)].timeouts;
        RpcEvent ev{RpcEvent::Type::timeout, nullptr, done.to, now - done.sent, now};
        done.handler(ev);
    }
    // After the handlers, which may have added requests.
    due_ = base::kNever;
    for (auto& [txid, p] : pending_)
        due_ = std::min(due_, p.sent + (p.short_fired ? cfg_.full_timeout : std::min(p.short_after, cfg_.full_timeout)));
    return due_;
}

}  // namespace dht
