#include "cli/port_map_host.hpp"

namespace cli {

base::Result<std::unique_ptr<PortMapHost>> PortMapHost::start(net::Loop& loop, net::LoopTurn& turn, base::Logger& log,
                                                              net::PortMapRequest req, OnChange on_change) {
    req.lifetime_s = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(dht::PortMapConfig{}.lifetime).count());
    std::unique_ptr<PortMapHost> h{new PortMapHost(log, req, std::move(on_change))};
    h->worker_ = net::SerialWorker::make(loop);
    PortMapHost* self = h.get();
    auto c = turn.add([self](base::TimePoint now) { return self->tick(now); });
    if (!c) return c.status();
    h->core_ = std::move(*c);
    h->core_->mark();
    return h;
}

PortMapHost::~PortMapHost() {
    core_.reset();
    if (!schedule_.current() && !schedule_.running()) return;
    // The job holds the client and the worker; the loop waits for it. Nothing of ours is touched.
    auto client = client_;
    worker_->post([client] { (void)client->unmap(); }, {});
    KC_LOG(log_, info, "nat", "deleting the port mapping on the router");
}

base::TimePoint PortMapHost::tick(base::TimePoint now) {
    if (schedule_.expire(now)) {
        KC_LOG(log_, warn, "nat", "the router's port mapping expired and could not be renewed: %s",
               schedule_.last_error().c_str());
        publish();
    }
    if (schedule_.due(now)) {
        schedule_.started(now);
        auto client = client_;
        auto result = std::make_shared<base::Result<net::PortMapGrant>>(base::Status{base::Errc::internal, "not run"});
        net::PortMapRequest req = req_;
        std::weak_ptr<bool> alive = alive_;
        worker_->post([client, result, req] { *result = client->map(req); },
                      [this, alive, result, gen = generation_] {
                          if (alive.expired() || gen != generation_) return;
                          auto t = base::steady_now();
                          bool changed;
                          if (*result) {
                              const net::PortMapGrant& g = **result;
                              dht::PortMapping m{g.protocol, g.gateway, g.external, g.tcp,
                                                 std::chrono::seconds(g.lifetime_s), {}};
                              bool first = !schedule_.current();
                              changed = schedule_.on_granted(std::move(m), t);
                              if (changed || first)
                                  KC_LOG(log_, info, "nat", "the router forwards %s%s to us (%s, %s)",
                                         g.external.to_string().c_str(), g.tcp ? " (UDP and TCP)" : " (UDP only)",
                                         g.protocol.c_str(), g.lifetime_s ? (std::to_string(g.lifetime_s) + " s").c_str() : "no expiry");
                          } else {
                              bool had = schedule_.current().has_value();
                              changed = schedule_.on_failed(result->status().detail(), t);
                              // Said once at info (most networks have no mapping router); a lost
                              // mapping is a warning.
                              if (had)
                                  KC_LOG(log_, warn, "nat", "the router stopped renewing our port mapping: %s", result->status().detail().c_str());
                              else if (schedule_.failures() == 1)
                                  KC_LOG(log_, info, "nat", "no port mapping: %s", result->status().detail().c_str());
                              else
                                  KC_LOG(log_, debug, "nat", "no port mapping: %s", result->status().detail().c_str());
                          }
                          if (changed) publish();
                          if (core_) core_->mark();
                      });
    }
    return schedule_.next(now);
}

void PortMapHost::network_changed() {
    ++generation_;
    auto now = base::steady_now();
    bool had = schedule_.reset(now);
    // (The mapping on the old router, if any, lapses there: we can no longer reach that router.)
    auto client = client_;
    worker_->post([client] { client->forget(); }, {});
    if (had) publish();
    if (core_) core_->mark();
}

void PortMapHost::publish() {
    if (!on_change_) return;
    if (schedule_.current())
        on_change_(schedule_.current()->external);
    else
        on_change_(std::nullopt);
}

}  // namespace cli
