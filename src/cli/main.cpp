// kadchat: one binary, three faces: an interactive node, a headless daemon, and `ctl`.
#include <signal.h>

#include <iostream>

#include "base/logger.hpp"
#include "cli/ctl_client.hpp"
#include "cli/options.hpp"
#include "cli/runtime.hpp"
#include "crypto/keys.hpp"
#include "crypto/sodium_rng.hpp"
#include "net/uv_handle.hpp"

int main(int argc, char** argv) {
    auto parsed = cli::parse_args(argc, argv);
    if (parsed.mode == cli::Parsed::Mode::exit) return parsed.exit_code;
    if (parsed.mode == cli::Parsed::Mode::ctl) return cli::run_ctl(parsed.ctl);
    if (auto st = crypto::init(); !st.ok()) {
        std::cerr << "kadchat: " << st.to_string() << "\n";
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    base::StderrLogger log{parsed.node.log_level};
    crypto::SodiumRng rng;
    net::Loop loop;  // outlives every handle owner
    int rc = 0;
    {
        cli::Runtime node{loop, parsed.node, rng, log};
        if (auto st = node.start(); !st.ok()) {
            std::cerr << "kadchat: " << st.to_string() << "\n";
            rc = 1;
            node.shutdown();
        } else {
            loop.run();
        }
    }
    return rc;
}
