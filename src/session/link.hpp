#pragma once
// A link is one way bytes travel between this node and a peer: a TCP stream, or a datagram path
// (a punched UDP path, or a circuit through a relay). A session runs over one link; the session does not care
// which kind, only its framing does (crypto::Session's stream or datagram mode).
#include <cstdint>

#include <optional>
#include <string>

#include "base/endpoint.hpp"
#include "crypto/keys.hpp"

namespace session {

using LinkId = uint64_t;

// Ranked: a session on a better path replaces one on a worse path to the same peer.
enum class Path : uint8_t { relay, udp, tcp };
const char* path_name(Path p);

// How the link came about (`ctl peers` shows it).
enum class Method : uint8_t {
    dial,               // we connected to an endpoint the DHT or the user gave
    accept,             // the peer connected to our listening port
    lan,                // a LAN candidate the peer sent through the rendezvous
    punch,              // a UDP path opened by probes from both sides
    simultaneous_open,  // TCP connect from our listening port to theirs, both at once
    relay,              // a circuit through a relay the peer reserved
    birthday,           // a UDP path found by birthday probing (one side many sockets, the other many ports)
};
const char* method_name(Method m);
// A peer's key in logs: its first 4 bytes in hex.
std::string short_id(const crypto::PublicKey& k);

struct LinkInfo {
    LinkId id = 0;
    Path path = Path::tcp;
    base::Endpoint remote;
    bool outbound = false;  // we started the handshake
    Method method = Method::dial;
    std::optional<crypto::PublicKey> via;  // a relayed link: the relay (`remote` is its endpoint)
};

}  // namespace session
