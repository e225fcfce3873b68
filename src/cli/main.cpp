// kadchat: one binary, three faces: an interactive node, a headless daemon, and `ctl`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "base/logger.hpp"
#include "cli/ctl_client.hpp"
#include "cli/options.hpp"
#include "cli/runtime.hpp"
#include "crypto/keys.hpp"
#include "crypto/sodium_rng.hpp"
#include "net/uv_handle.hpp"

namespace {
// systemd names the journal's stream in JOURNAL_STREAM as "device:inode"; stderr is the journal
// only if it is that very stream (a child whose stderr was redirected inherits the variable).
bool stderr_is_journal() {
    const char* j = std::getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st {};
    if (!j || std::sscanf(j, "%llu:%llu", &dev, &ino) != 2 || ::fstat(STDERR_FILENO, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}
// A person reads this: the sentence, not the error code's name (which the logs and `ctl --json` keep).
std::string for_people(const base::Status& st) { return st.detail().empty() ? st.to_string() : st.detail(); }
}  // namespace

int main(int argc, char** argv) {
    auto parsed = cli::parse_args(argc, argv);
    if (parsed.mode == cli::Parsed::Mode::exit) return parsed.exit_code;
    if (parsed.mode == cli::Parsed::Mode::ctl) return cli::run_ctl(parsed.ctl);
    if (auto st = crypto::init(); !st.ok()) {
        std::cerr << "kadchat: " << for_people(st) << "\n";
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    base::StderrLogger log{parsed.node.log_level};
    log.set_journal(stderr_is_journal());
    crypto::SodiumRng rng;
    net::Loop loop;  // outlives every handle owner
    int rc = 0;
    {
        cli::Runtime node{loop, parsed.node, rng, log};
        if (auto st = node.start(); !st.ok()) {
            std::cerr << "kadchat: " << for_people(st) << "\n";
            rc = 1;
            node.shutdown();
        } else {
            loop.run();
        }
    }
    return rc;
}
