// Relay circuits in the DHT (PROTOCOL.md §17): the `relay` query that opens a circuit, asked of
// a relay by the peer that wants one, and passed on by the relay to the target (who reserved it,
// and may refuse); the datagrams of open circuits go through dht::Relay.
#include <algorithm>

#include "dht/node.hpp"

namespace dht {

std::vector<NodeInfo> Node::relays() const {
    std::vector<NodeInfo> out;
    for (auto& h : presence_holders_)
        if (relay_granted_.count(h.id)) out.push_back(h);
    return out;
}

void Node::relay_used(const NodeInfo& relay, base::TimePoint now) {
    if (relays_in_use_.size() >= cfg_.presence_nodes * 4 && !relays_in_use_.count(relay.id)) return;
    relays_in_use_[relay.id] = {relay, now};
}

void Node::send_relay_out(const std::vector<RelayOut>& out) {
    for (auto& o : out) outbound_.send(o.to, o.bytes);
}

base::TimePoint Node::relay_tick(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    send_relay_out(relay_.tick(now, next));
    return next;
}

void Node::on_relay_datagram(const base::Endpoint& from, std::span<const uint8_t> d, base::TimePoint now) {
    clock_ = now;
    if (!relaying() && relay_.size() == 0) return;  // (counted by the caller as not ours)
    send_relay_out(relay_.on_datagram(from, d, now));
}

void Node::relay_open(const NodeInfo& via, const NodeId& target, RelayOpenDone done, base::TimePoint now) {
    clock_ = now;
    Message q;
    q.method = Method::relay;
    q.target = target;
    NodeId id = via.id;
    rpc_.send_query(q, via.endpoint, &id, [this, done = std::move(done)](const RpcEvent& ev) {
        if (ev.type == RpcEvent::Type::short_timeout) return;
        RelayOpenResult r;
        if (ev.type == RpcEvent::Type::reply && ev.msg->circuit != 0) {
            r.ok = true;
            r.circuit = ev.msg->circuit;
        } else if (ev.type == RpcEvent::Type::error) {
            r.error_code = ev.msg->error_code;
            r.error = ev.msg->error_msg;
        } else {
            r.error = ev.type == RpcEvent::Type::timeout ? "no answer from the relay" : "no circuit in the answer";
        }
        defer([done, r](base::TimePoint) { done(r); });
    }, now);
}

void Node::handle_relay(const Message& q, const base::Endpoint& from, base::TimePoint now) {
    if (q.from) {
        // Passed on by a relay: a peer wants a circuit to us. Only a relay we reserved may ask
        // (nobody else can make us talk through it), and the session layer decides.
        bool ours = relay_granted_.count(q.sender) > 0 && q.target == self_;
        bool accepted = ours && relay_handler_ && relay_handler_(*q.from, {q.sender, from}, q.circuit, now);
        if (!accepted) return send_error(q, from, kErrRefused, ours ? "circuit refused" : "no reservation with you");
        relay_used({q.sender, from}, now);
        return rpc_.send_response(reply_to(q, from), from, q.sender);
    }
    if (!relaying()) return send_error(q, from, kErrNoRelay, "this node does not relay");
    auto it = presence_.find(q.target);
    if (it == presence_.end() || now >= it->second.expires || !it->second.relay)
        return send_error(q, from, kErrNotHere, "no relay reservation for that node here");
    if (forwards_ >= cfg_.max_forwards || !forward_limit_.allow(from, now)) {
        ++stats_.rate_limited;
        return send_error(q, from, kErrBusy, "too many relay requests");
    }
    auto opened = relay_.open(q.sender, from, q.target, it->second.endpoint, now);
    if (!opened) return send_error(q, from, kErrBusy, opened.status().detail());
    // Ask the target; the asker learns its circuit id only once the target accepted, and only
    // at the endpoint it asked from (which is where its datagrams must then come from).
    ++forwards_;
    Message f;
    f.method = Method::relay;
    f.target = q.target;
    f.from = q.sender;
    f.circuit = opened->target_circuit;
    Message reply = reply_to(q, from);
    NodeId asker = q.sender, target = q.target;
    uint64_t key = opened->target_circuit, asker_circuit = opened->asker_circuit;
    rpc_.send_query(f, it->second.endpoint, &target, [this, reply, from, asker, key, asker_circuit](const RpcEvent& ev) mutable {
        if (ev.type == RpcEvent::Type::short_timeout) return;
        --forwards_;
        if (ev.type == RpcEvent::Type::reply) {
            relay_.confirm(key, ev.now);
            reply.circuit = asker_circuit;
            return rpc_.send_response(reply, from, asker);
        }
        relay_.abandon(key);
        reply.kind = Kind::error;
        bool refused = ev.type == RpcEvent::Type::error && ev.msg->error_code == kErrRefused;
        reply.error_code = refused ? kErrRefused : kErrNoAnswer;
        reply.error_msg = refused ? "the target refused" : "the target did not answer";
        rpc_.send_response(reply, from, asker);
    }, now);
}

}  // namespace dht
