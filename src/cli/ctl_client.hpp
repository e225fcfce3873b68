#pragma once
#include "cli/options.hpp"

namespace cli {

// `kadchat ctl`: sends one command to the node's control socket and prints the reply.
// Exit codes: 0 success; 1 the node refused or failed the command; 3 no node is running.
int run_ctl(const CtlOptions& opts);

}  // namespace cli
