#pragma once
// The thin runtime of port mapping (PROTOCOL.md §19): dht::PortMapSchedule says when, a
// net::PortMapClient on a net::SerialWorker does the blocking PCP / NAT-PMP / UPnP calls, and each
// mapping granted or lost is handed to the node as its public endpoint (NatAnalysis::set_public):
// mapped, the node is reachable unsolicited, a full DHT member and a relay if it allows, with no
// punching.
// At exit the mapping is deleted; the loop runs until the router has answered.
#include <functional>
#include <memory>
#include <optional>

#include "base/logger.hpp"
#include "dht/port_mapping.hpp"
#include "net/loop_turn.hpp"
#include "net/port_map_client.hpp"
#include "net/worker.hpp"

namespace cli {

class PortMapHost {
public:
    using OnChange = std::function<void(std::optional<base::Endpoint> external)>;
    static base::Result<std::unique_ptr<PortMapHost>> start(net::Loop& loop, net::LoopTurn& turn, base::Logger& log,
                                                            net::PortMapRequest req, OnChange on_change);
    // Deletes the mapping (after any request still running).
    ~PortMapHost();

    const dht::PortMapSchedule& schedule() const { return schedule_; }
    // Our addresses changed: the old router's mapping means nothing here (and a request still
    // running answers for the old network: ignored). Ask the new router at once.
    void network_changed();

private:
    PortMapHost(base::Logger& log, net::PortMapRequest req, OnChange cb) : log_{log}, req_{req}, on_change_{std::move(cb)} {}
    base::TimePoint tick(base::TimePoint now);
    void publish();

    base::Logger& log_;
    net::PortMapRequest req_;  // the port and the protocols; the lifetime is the schedule's
    OnChange on_change_;
    dht::PortMapSchedule schedule_;
    std::shared_ptr<net::SerialWorker> worker_;
    // Shared with the job running on the pool thread; only that job touches it while it runs.
    std::shared_ptr<net::PortMapClient> client_ = std::make_shared<net::PortMapClient>();
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    uint64_t generation_ = 0;  // network changes seen: a result from an older one is stale
    std::unique_ptr<net::LoopTurn::Core> core_;
};

}  // namespace cli
