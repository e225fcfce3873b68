#pragma once
// Secure-session figures next to their raw baselines, measured in the same run: libsodium's
// AEAD on one core, raw loopback TCP, and kadchat sessions over loopback TCP (two threads, one
// event loop each: sender and receiver on their own cores).
#include <nlohmann/json.hpp>

namespace bench {

nlohmann::json run_sessions(double seconds_per_figure);

}  // namespace bench
