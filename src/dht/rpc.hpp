#pragma once
// Outstanding requests: transaction ids, short and full timeouts (libtorrent's observer.hpp
// idea). The short timeout tells a lookup to stop waiting and use one more slot; the full
// timeout fails the request and the contact.
#include <functional>
#include <optional>
#include <unordered_map>

#include "base/rng.hpp"
#include "base/time.hpp"
#include "dht/config.hpp"
#include "dht/messages.hpp"
#include "dht/stats.hpp"
#include "dht/transport.hpp"

namespace dht {

struct RpcEvent {
    enum class Type { reply, error, short_timeout, timeout } type;
    const Message* msg = nullptr;  // reply or error only; valid during the callback
    base::Endpoint from{};
    base::Duration rtt{0};
    base::TimePoint now{};
};
using RpcHandler = std::function<void(const RpcEvent&)>;

class Rpc {
public:
    Rpc(const Config& cfg, Transport& transport, Authenticator& auth, base::Rng& rng, Stats& stats);

    // Sends query `m` (its txid is assigned here) to `to`. `peer` is the ID we expect to answer,
    // or nullptr when unknown (bootstrap): then the query is signed instead of MAC'd.
    // The handler fires exactly once with reply, error or timeout, possibly after a short_timeout.
    // `short_timeout` overrides Config::short_timeout for this request when non-zero.
    uint64_t send_query(Message m, const base::Endpoint& to, const NodeId* peer, RpcHandler handler,
                        base::TimePoint now, base::Duration short_timeout = base::Duration{0});
    // Sends a reply or error (no transaction kept).
    void send_response(const Message& m, const base::Endpoint& to, const NodeId& peer);

    // An authenticated reply or error of `bytes` bytes. False if it answers nothing outstanding.
    bool on_response(const Message& m, const base::Endpoint& from, size_t bytes, base::TimePoint now);
    // The round-trip time if `m` answers an outstanding request, without consuming it.
    std::optional<base::Duration> match(const Message& m, const base::Endpoint& from,
                                        base::TimePoint now) const;
    base::TimePoint tick(base::TimePoint now);
    size_t outstanding() const { return pending_.size(); }
    // Forgets every outstanding request without firing its handler (shutdown).
    void clear() { pending_.clear(); }
    // Every message from now on carries "ro" (client mode), or not.
    void set_read_only(bool v) { read_only_ = v; }
    // Bytes a reply sent from now on may take (replies are cut to fit); the Node sets it for the
    // query it is answering (PROTOCOL.md §7, amplification) and puts it back afterwards.
    void set_reply_budget(size_t bytes) { reply_budget_ = bytes; }
    // Wall-clock time minus `now`, for the time in query txids (PROTOCOL.md §4).
    void set_wall_offset(base::Duration d) { wall_offset_ = d; }

private:
    struct Pending {
        std::optional<NodeId> peer;
        base::Endpoint to;
        Method method;
        base::TimePoint sent;
        base::Duration short_after;
        bool short_fired = false;
        RpcHandler handler;
    };

    using PendingMap = std::unordered_map<uint64_t, Pending>;
    // The request `m` answers: same txid, and a known peer must answer under its own ID while an
    // unknown one (bootstrap) must answer from the address asked.
    PendingMap::const_iterator find_match(const Message& m, const base::Endpoint& from) const;

    const Config& cfg_;
    Transport& transport_;
    Authenticator& auth_;
    base::Rng& rng_;
    Stats& stats_;
    PendingMap pending_;
    base::TimePoint due_ = base::kNever;  // no pending request times out before this
    bool read_only_ = false;
    size_t reply_budget_ = kMaxDatagram;
    base::Duration wall_offset_{0};
};

}  // namespace dht
