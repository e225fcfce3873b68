#pragma once
// Chat figures between real nodes (cli::Runtime, as the daemon runs them) in one process on
// loopback: delivery latency on a warm session, messages per second, cold start to delivered,
// and a mailbox round trip. Every message is sealed, written (fdatasync) to the outbox and
// history, sent, written by the receiver, and acknowledged, as in use.
#include <nlohmann/json.hpp>

namespace bench {

nlohmann::json run_chat(size_t messages);

}  // namespace bench
