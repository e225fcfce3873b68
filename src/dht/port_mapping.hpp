#pragma once
// When to ask the home router for a port mapping, renew it and give up on it (PROTOCOL.md §19),
// sans-I/O: the runtime asks due(), runs the request off the loop, and reports the outcome.
//
// A mapping is renewed at half its lifetime. A renewal that fails keeps the mapping until it
// expires, trying again every `retry` meanwhile; then it is lost and the node goes back to what its
// NAT analysis says. With no gateway that maps, attempts back off from `retry` to `retry_max`: a
// router that gains UPnP (or a laptop that moves to one) is found within that. A mapping the router
// grants without expiry (lifetime 0) is checked every `recheck`, since a rebooted router forgets it.
#include <optional>
#include <string>

#include "base/endpoint.hpp"
#include "base/time.hpp"

namespace dht {

struct PortMapConfig {
    base::Duration lifetime = std::chrono::hours(1);       // asked for
    base::Duration min_renew = std::chrono::seconds(1);  // however short the grant, no faster than this
    base::Duration retry = std::chrono::seconds(30);
    base::Duration retry_max = std::chrono::minutes(30);
    base::Duration recheck = std::chrono::minutes(20);
};

struct PortMapping {
    std::string protocol;        // "pcp", "natpmp", "upnp"
    std::string gateway;
    base::Endpoint external;
    bool tcp = false;
    base::Duration lifetime{};   // zero: until deleted
    base::TimePoint granted_at{};
};

class PortMapSchedule {
public:
    explicit PortMapSchedule(PortMapConfig cfg = {}) : cfg_{cfg} {}

    // An attempt (a first request or a renewal) is due: start one and call started().
    bool due(base::TimePoint now) const { return !running_ && now >= next_; }
    void started(base::TimePoint now);
    // The outcome. True if the endpoint to publish changed.
    bool on_granted(PortMapping m, base::TimePoint now);
    bool on_failed(std::string why, base::TimePoint now);
    // Drops a mapping whose renewals failed past its expiry; true if one was dropped.
    bool expire(base::TimePoint now);
    // The network changed: the old mapping means nothing now; ask again at once. An attempt still
    // running is forgotten (the caller drops its result).
    bool reset(base::TimePoint now);
    base::TimePoint next(base::TimePoint now) const;

    const std::optional<PortMapping>& current() const { return current_; }
    const std::string& last_error() const { return error_; }
    bool running() const { return running_; }
    uint64_t attempts() const { return attempts_; }
    uint64_t failures() const { return failures_; }
    base::TimePoint expires_at() const;

private:
    PortMapConfig cfg_;
    std::optional<PortMapping> current_;
    std::string error_;
    bool running_ = false;
    base::TimePoint next_{};  // the first attempt at once
    base::Duration backoff_{};
    uint64_t attempts_ = 0, failures_ = 0;
};

}  // namespace dht
