#pragma once
// Relay figures on loopback: one dht::Relay in its own thread on a real UDP socket, forwarding
// full-size session datagrams (1,190 bytes) from one end to the other over many circuits, as
// fast as the ends can send. Reports datagrams and bytes per second, the relay thread's CPU
// per datagram, and what that means for circuits at the default rate cap.
#include <nlohmann/json.hpp>

namespace bench {

nlohmann::json run_relay(double seconds, size_t circuits);

}  // namespace bench
