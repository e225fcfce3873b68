#pragma once
#include <sys/socket.h>

#include "base/endpoint.hpp"

namespace net {

// Conversions between base::Endpoint and the socket API.
bool to_sockaddr(const base::Endpoint& ep, sockaddr_storage& out);
bool from_sockaddr(const sockaddr* sa, base::Endpoint& out);
// Resolves "host:port" (host may be a name) to every address it has. Blocking: call at startup.
base::Result<std::vector<base::Endpoint>> resolve(const std::string& host_port);

}  // namespace net
