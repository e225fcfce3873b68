#include "cli/options.hpp"

#include <docopt/docopt.h>

#include "cli/config_file.hpp"
#include "dht/relay.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <unistd.h>

namespace cli {

const char kVersion[] = "kadchat 0.1.0";

const char kUsage[] =
    R"(kadchat: serverless, end-to-end encrypted chat over a Kademlia DHT.

Usage:
  kadchat [--data-dir=DIR] [options] [--listen=HOST:PORT]... [--bootstrap=HOST:PORT]...
  kadchat daemon [--data-dir=DIR] [options] [--listen=HOST:PORT]... [--bootstrap=HOST:PORT]...
  kadchat ctl [--data-dir=DIR] [--json] id
  kadchat ctl [--data-dir=DIR] [--json] dht table
  kadchat ctl [--data-dir=DIR] [--json] dht lookup <id> [--trace]
  kadchat ctl [--data-dir=DIR] [--json] dht put <key> <value> [--ttl=SECONDS]
  kadchat ctl [--data-dir=DIR] [--json] dht get <key>
  kadchat ctl [--data-dir=DIR] [--json] dht storage
  kadchat ctl [--data-dir=DIR] [--json] dht stats
  kadchat ctl [--data-dir=DIR] [--json] relay
  kadchat ctl [--data-dir=DIR] [--json] peers
  kadchat ctl [--data-dir=DIR] [--json] connect <peer> [--via=HOST:PORT]
  kadchat ctl [--data-dir=DIR] [--json] disconnect <peer>
  kadchat ctl [--data-dir=DIR] [--json] ping <peer> [--count=N] [--via=HOST:PORT]
  kadchat ctl [--data-dir=DIR] [--json] send <contact> <text> [--wait=SECONDS]
  kadchat ctl [--data-dir=DIR] [--json] history <contact> [--limit=N]
  kadchat ctl [--data-dir=DIR] [--json] inbox
  kadchat ctl [--data-dir=DIR] [--json] contacts
  kadchat ctl [--data-dir=DIR] [--json] add <address> [--name=NAME]
  kadchat ctl [--data-dir=DIR] [--json] remove <contact>
  kadchat ctl [--data-dir=DIR] [--json] accept <contact> [--name=NAME]
  kadchat ctl [--data-dir=DIR] [--json] block <contact>
  kadchat ctl [--data-dir=DIR] [--json] lookup <id>
  kadchat ctl [--data-dir=DIR] [--json] stop
  kadchat (-h | --help)
  kadchat --version

Options:
  --config=FILE           Options from FILE, one `name = value` per line (default:
                          $XDG_CONFIG_HOME/kadchat/kadchat.conf or ~/.config/kadchat/kadchat.conf,
                          if it exists); the command line wins.
  --data-dir=DIR          Where the key, saved contacts and control socket live
                          (default: $XDG_DATA_HOME/kadchat or ~/.local/share/kadchat).
  --listen=HOST:PORT      UDP address to listen on, repeatable; port 0 picks a free one
                          (default: 0.0.0.0:44544, or a free port if that one is taken).
  --bootstrap=HOST:PORT   A running node to join through, repeatable; host names are resolved.
  --bootstrap-file=FILE   Bootstrap nodes, one HOST:PORT per line, '#' starts a comment.
  --passphrase-file=FILE  The identity key is (or, if new or in the clear, becomes) encrypted with
                          the passphrase in FILE's first line. Without it, an encrypted key is
                          asked for on a terminal.
  --log-level=LEVEL       trace, debug, info, warn, error or off [default: info].
  --k=N                   Bucket size and lookup width [default: 20].
  --alpha=N               Parallel requests per lookup [default: 3].
  --public-address=ADDR   This node is reachable at ADDR, a HOST:PORT (a port forward, a
                          public server): a full DHT member from the start, no NAT checks.
  --nat-keepalive=SECS    Behind a NAT, refresh the mapping to the nodes that keep this
                          node's presence this often [default: 20].
  --no-relay              Do not relay for others, even when reachable (relaying is on by
                          default for a node others can reach: a public address, a port forward).
  --no-lan-discovery      Do not announce this node on the local link, nor look for others
                          there (multicast 239.192.44.54:44545; off anyway for a node that
                          listens on loopback only).
  --no-port-mapping       Do not ask the home router to forward a port to this node (PCP,
                          NAT-PMP, UPnP-IGD; off anyway for a node on loopback only or one with
                          --public-address).
  --port-mapping=LIST     Which protocols to ask the router in, comma-separated; they are
                          tried in the order pcp, natpmp, upnp [default: pcp,natpmp,upnp].
  --no-tui                On a terminal, use the line prompt instead of the full-screen client
                          (the prompt is used anyway for pipes and TERM=dumb).
  --relay-limits=LIMITS   Limits of this node's relay, e.g. circuits=128,rate=32768,
                          bytes=67108864,lifetime=7200 (any subset; bytes, bytes/s, seconds).
  --json                  Print one JSON document (ctl).
  --trace                 Show every hop of the lookup.
  --ttl=SECONDS           Lifetime of a stored value [default: 3600].
  --via=HOST:PORT         Connect to this address instead of looking the peer up in the DHT.
  --count=N               Pings to send through the session [default: 4].
  --wait=SECONDS          Wait up to this long for the message to be delivered.
  --limit=N               Only the last N messages [default: 0 = all].
  --name=NAME             A name for the contact (default: the first 8 hex digits of its ID).
  -h --help               Show this text.
  --version               Show the version.
)";

// The same commands without the `kadchat ctl` prefix, for the control socket and the prompt.
const char kCommandUsage[] =
    R"(Usage:
  cmd id
  cmd dht table
  cmd dht lookup <id> [--trace]
  cmd dht put <key> <value> [--ttl=SECONDS]
  cmd dht get <key>
  cmd dht storage
  cmd peers
  cmd connect <peer> [--via=HOST:PORT]
  cmd disconnect <peer>
  cmd ping <peer> [--count=N] [--via=HOST:PORT]
  cmd dht stats
  cmd relay
  cmd send <contact> <text> [--wait=SECONDS]
  cmd history <contact> [--limit=N]
  cmd inbox
  cmd contacts
  cmd add <address> [--name=NAME]
  cmd remove <contact>
  cmd accept <contact> [--name=NAME]
  cmd block <contact>
  cmd lookup <id>
  cmd stop
  cmd help

Options:
  --trace
  --ttl=SECONDS  [default: 3600]
  --via=HOST:PORT
  --count=N  [default: 4]
  --wait=SECONDS
  --limit=N
  --name=NAME
)";

std::string default_data_dir() {
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/kadchat";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/kadchat";
    return ".kadchat";
}

namespace {

std::string str(const std::map<std::string, docopt::value>& a, const char* k) {
    auto it = a.find(k);
    if (it == a.end() || !it->second || !it->second.isString()) return {};
    return it->second.asString();
}
// Repeated options, each value once: docopt.cpp 0.6 reports the last of several repeated
// options twice.
std::vector<std::string> list(const std::map<std::string, docopt::value>& a, const char* k) {
    auto it = a.find(k);
    if (it == a.end() || !it->second || !it->second.isStringList()) return {};
    std::vector<std::string> out;
    for (auto& v : it->second.asStringList())
        if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    return out;
}
bool flag(const std::map<std::string, docopt::value>& a, const char* k) {
    auto it = a.find(k);
    return it != a.end() && it->second && it->second.isBool() && it->second.asBool();
}

bool parse_size(const std::string& s, size_t& out) {
    char* end = nullptr;
    unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end || v == 0 || v > 1000) return false;
    out = v;
    return true;
}

}  // namespace

Parsed parse_args(int argc, char** argv) {
    Parsed p;
    std::map<std::string, docopt::value> a;
    std::vector<std::string> words{argv + 1, argv + argc};
    // A node (not ctl) reads its config file first: its options join the command line's,
    // where the command line does not give them.
    bool is_ctl = !words.empty() && words[0] == "ctl";
    if (!is_ctl) {
        std::string path;
        bool given = false;
        for (size_t i = 0; i < words.size(); ++i) {
            if (words[i] == "--config" && i + 1 < words.size()) path = words[i + 1], given = true;
            if (words[i].rfind("--config=", 0) == 0) path = words[i].substr(9), given = true;
        }
        if (!given) {
            path = default_config_path();
            if (!path.empty() && ::access(path.c_str(), F_OK) != 0) path.clear();
        }
        if (!path.empty()) {
            auto extra = config_words(path, words);
            if (!extra) {
                std::cerr << "kadchat: " << extra.status().detail() << "\n";
                p.mode = Parsed::Mode::exit;
                p.exit_code = 2;
                return p;
            }
            words.insert(words.end(), extra->begin(), extra->end());
        }
    }
    try {
        a = docopt::docopt_parse(kUsage, words, true, false);
    } catch (const docopt::DocoptExitHelp&) {
        std::cout << kUsage;
        p.mode = Parsed::Mode::exit;
        return p;
    } catch (const docopt::DocoptExitVersion&) {
        std::cout << kVersion << "\n";
        p.mode = Parsed::Mode::exit;
        return p;
    } catch (const docopt::DocoptLanguageError& e) {
        std::cerr << "bug in usage text: " << e.what() << "\n";
        p.mode = Parsed::Mode::exit;
        p.exit_code = 2;
        return p;
    } catch (const docopt::DocoptArgumentError& e) {
        std::cerr << e.what() << "\n\n" << kUsage;
        p.mode = Parsed::Mode::exit;
        p.exit_code = 2;
        return p;
    }
    if (flag(a, "--version")) {
        std::cout << kVersion << "\n";
        p.mode = Parsed::Mode::exit;
        return p;
    }
    std::string dir = str(a, "--data-dir");
    if (dir.empty()) dir = default_data_dir();
    if (flag(a, "ctl")) {
        p.mode = Parsed::Mode::ctl;
        p.ctl.data_dir = dir;
        p.ctl.json = flag(a, "--json");
        // Rebuild the command words in canonical order for the node.
        int i = 1;
        while (i < argc && std::string(argv[i]) != "ctl") ++i;
        for (++i; i < argc; ++i) {
            std::string w = argv[i];
            if (w == "--json") continue;
            if (w == "--data-dir") {
                ++i;
                continue;
            }
            if (w.rfind("--data-dir=", 0) == 0) continue;
            p.ctl.argv.push_back(w);
        }
        return p;
    }
    p.mode = Parsed::Mode::node;
    NodeOptions& n = p.node;
    n.daemon = flag(a, "daemon");
    n.data_dir = dir;
    n.listen = list(a, "--listen");
    n.listen_given = !n.listen.empty();
    n.bootstrap = list(a, "--bootstrap");
    n.bootstrap_file = str(a, "--bootstrap-file");
    n.passphrase_file = str(a, "--passphrase-file");
    auto usage_error = [&](const std::string& msg) {
        std::cerr << msg << "\n\n" << kUsage;
        p.mode = Parsed::Mode::exit;
        p.exit_code = 2;
        return p;
    };
    for (auto& w : words)
        if (w.rfind("--log-level", 0) == 0) n.log_level_given = true;
    if (!base::parse_level(str(a, "--log-level"), n.log_level))
        return usage_error("--log-level: expected trace, debug, info, warn, error or off");
    if (!parse_size(str(a, "--k"), n.k)) return usage_error("--k: expected a number from 1 to 1000");
    if (!parse_size(str(a, "--alpha"), n.alpha))
        return usage_error("--alpha: expected a number from 1 to 1000");
    n.public_address = str(a, "--public-address");
    size_t keepalive = 0;
    if (!parse_size(str(a, "--nat-keepalive"), keepalive) || keepalive > 600)
        return usage_error("--nat-keepalive: expected 1 to 600 seconds");
    n.nat_keepalive_s = static_cast<unsigned>(keepalive);
    n.relay = !flag(a, "--no-relay");
    n.lan_discovery = !flag(a, "--no-lan-discovery");
    n.port_mapping = !flag(a, "--no-port-mapping");
    {
        n.map_pcp = n.map_natpmp = n.map_upnp = false;
        std::string list = str(a, "--port-mapping");
        size_t at = 0;
        while (at <= list.size()) {
            size_t comma = std::min(list.find(',', at), list.size());
            std::string p = list.substr(at, comma - at);
            if (p == "pcp") n.map_pcp = true;
            else if (p == "natpmp") n.map_natpmp = true;
            else if (p == "upnp") n.map_upnp = true;
            else return usage_error("--port-mapping: expected a list of pcp, natpmp and upnp, e.g. pcp,natpmp,upnp");
            at = comma + 1;
        }
    }
    n.tui = !flag(a, "--no-tui");
    n.relay_limits = str(a, "--relay-limits");
    if (!n.relay_limits.empty())
        if (auto l = dht::parse_relay_limits(n.relay_limits); !l) return usage_error("--relay-limits: " + l.status().detail());
    return p;
}

base::Result<Command> parse_command(const std::vector<std::string>& words) {
    std::map<std::string, docopt::value> a;
    std::vector<std::string> argv = words;
    try {
        a = docopt::docopt_parse(kCommandUsage, argv, false, false);
    } catch (const docopt::DocoptArgumentError& e) {
        return base::invalid_argument(std::string(e.what()));
    } catch (const std::exception& e) {
        return base::invalid_argument(std::string(e.what()));
    }
    Command c;
    for (const char* w : {"id", "dht", "table", "lookup", "put", "get", "storage", "stats", "peers", "connect",
                          "disconnect", "ping", "stop", "help", "send", "history", "inbox", "contacts", "add",
                          "remove", "accept", "block", "relay"})
        if (flag(a, w)) c.path.append(c.path.empty() ? "" : " ").append(w);
    for (const char* k : {"<id>", "<key>", "<value>", "<peer>", "--ttl", "--via", "--count", "<contact>", "<text>",
                          "<address>", "--wait", "--limit", "--name"}) {
        std::string v = str(a, k);
        if (!v.empty()) c.args[k] = v;
    }
    c.flags["--trace"] = flag(a, "--trace");
    return c;
}

}  // namespace cli
