#pragma once
// Command-line parsing (docopt) into typed options. docopt's exceptions stop here.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/logger.hpp"
#include "base/status.hpp"

namespace cli {

extern const char kUsage[];
extern const char kVersion[];

struct NodeOptions {
    bool daemon = false;
    std::string data_dir;
    std::vector<std::string> listen;
    bool listen_given = false;
    std::vector<std::string> bootstrap;
    std::string bootstrap_file;
    std::string passphrase_file;
    base::Level log_level = base::Level::info;
    bool log_level_given = false;  // the prompt defaults to warnings only
    size_t k = 20;
    size_t alpha = 3;
    std::string public_address;     // HOST:PORT of a port forward: reachable, no NAT checks
    unsigned nat_keepalive_s = 20;  // announce to the presence holders this often
    bool relay = true;              // relay for others when reachable
    bool lan_discovery = true;      // multicast announces on the local link (PROTOCOL.md §18)
    bool tui = true;                // the full-screen client on a terminal (else the line prompt)
    bool port_mapping = true;       // PCP / NAT-PMP / UPnP-IGD on the home router (PROTOCOL.md §19)
    bool map_pcp = true, map_natpmp = true, map_upnp = true;  // --port-mapping: which of them
    std::string relay_limits;       // "circuits=…,rate=…" (dht::parse_relay_limits)
};

struct CtlOptions {
    std::string data_dir;
    bool json = false;
    std::vector<std::string> argv;  // the command and its arguments, e.g. {"dht","lookup",ID}
};

struct Parsed {
    enum class Mode { node, ctl, exit } mode = Mode::node;
    NodeOptions node;
    CtlOptions ctl;
    int exit_code = 0;  // Mode::exit: help/version printed (0) or usage error (2)
};

Parsed parse_args(int argc, char** argv);
std::string default_data_dir();

// The control-command grammar shared by `kadchat ctl` and the interactive prompt.
struct Command {
    std::string path;                           // "dht lookup"
    std::map<std::string, std::string> args;    // "<id>" -> value, "--ttl" -> value
    std::map<std::string, bool> flags;          // "--trace" -> true
};
base::Result<Command> parse_command(const std::vector<std::string>& words);
extern const char kCommandUsage[];

}  // namespace cli
