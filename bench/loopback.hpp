#pragma once
// Real kadchat nodes on 127.0.0.1 in this process: join time, lookup and get latency, memory.
#include <cstddef>
#include <nlohmann/json.hpp>

namespace bench {

// `threads` libuv loops, one per thread, each owning every threads-th node; node 0 (the
// bootstrap node) is on the first. Returns the figures as JSON, or {"error": ...}.
nlohmann::json run_loopback(size_t nodes, size_t lookups, size_t threads);

}  // namespace bench
