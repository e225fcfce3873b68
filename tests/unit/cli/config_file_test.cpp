// The config file (cli/config_file.hpp): what it adds to the command line, what the command line
// overrides, and the errors a person sees (file and line).
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "cli/config_file.hpp"
#include "cli/options.hpp"

namespace {
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char tmpl[] = "/tmp/kadchat-conf-XXXXXX";
        int fd = ::mkstemp(tmpl);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = tmpl;
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path.c_str()); }
};
cli::Parsed parse(std::vector<std::string> words) {
    std::vector<char*> argv{const_cast<char*>("kadchat")};
    for (auto& w : words) argv.push_back(w.data());
    return cli::parse_args(static_cast<int>(argv.size()), argv.data());
}
}  // namespace

TEST_CASE("config file: every option of the command line, the command line wins") {
    TempFile f{"# a relay\n"
               "listen = 0.0.0.0:5000   # IPv4\n"
               "listen = [::]:5000\n"
               "\n"
               "bootstrap = 203.0.113.5:44544\n"
               "log-level = debug\n"
               "no-relay\n"
               "no-lan-discovery = false\n"
               "nat-keepalive = 15\n"
               "port-mapping = natpmp,upnp\n"};
    auto w = cli::config_words(f.path, {"daemon"});
    REQUIRE(w);
    CHECK(*w == std::vector<std::string>{"--listen=0.0.0.0:5000", "--listen=[::]:5000", "--bootstrap=203.0.113.5:44544",
                                         "--log-level=debug", "--no-relay", "--nat-keepalive=15",
                                         "--port-mapping=natpmp,upnp"});
    // Given on the command line: every value of the file's is dropped, even a repeatable one's.
    auto w2 = cli::config_words(f.path, {"daemon", "--listen", "127.0.0.1:0", "--log-level=warn"});
    REQUIRE(w2);
    CHECK(*w2 == std::vector<std::string>{"--bootstrap=203.0.113.5:44544", "--no-relay", "--nat-keepalive=15",
                                          "--port-mapping=natpmp,upnp"});

    // Through the parser, as the node sees it.
    auto p = parse({"daemon", "--config", f.path, "--listen=127.0.0.1:7"});
    REQUIRE(p.mode == cli::Parsed::Mode::node);
    CHECK(p.node.listen == std::vector<std::string>{"127.0.0.1:7"});
    CHECK(p.node.bootstrap == std::vector<std::string>{"203.0.113.5:44544"});
    CHECK_FALSE(p.node.relay);
    CHECK(p.node.lan_discovery);
    CHECK(p.node.log_level == base::Level::debug);
    CHECK(p.node.log_level_given);
    CHECK(p.node.nat_keepalive_s == 15);
    CHECK_FALSE(p.node.map_pcp);
    CHECK(p.node.map_natpmp);
    CHECK(p.node.map_upnp);
}

TEST_CASE("options: --port-mapping picks protocols; a wrong name is a usage error") {
    auto d = parse({"daemon"});
    CHECK((d.node.map_pcp && d.node.map_natpmp && d.node.map_upnp));
    auto u = parse({"daemon", "--port-mapping=upnp"});
    REQUIRE(u.mode == cli::Parsed::Mode::node);
    CHECK((!u.node.map_pcp && !u.node.map_natpmp && u.node.map_upnp));
    CHECK(parse({"daemon", "--port-mapping=pcp,igd"}).mode == cli::Parsed::Mode::exit);
    CHECK(parse({"daemon", "--port-mapping="}).mode == cli::Parsed::Mode::exit);
    CHECK(parse({"daemon", "--port-mapping=pcp,"}).mode == cli::Parsed::Mode::exit);
}

TEST_CASE("config file: a mistake names the file and the line, and the node does not start") {
    TempFile unknown{"listen = 0.0.0.0:1\nlisten-address = x\n"};
    auto w = cli::config_words(unknown.path, {});
    REQUIRE_FALSE(w);
    CHECK(w.status().detail() == unknown.path + ":2: unknown option 'listen-address' (the options are those of kadchat --help)");
    TempFile flag{"no-relay = maybe\n"};
    CHECK(cli::config_words(flag.path, {}).status().detail().find(":1: no-relay takes true or false") != std::string::npos);
    TempFile empty{"bootstrap =\n"};
    CHECK(cli::config_words(empty.path, {}).status().detail().find(":1: bootstrap needs a value") != std::string::npos);
    CHECK_FALSE(cli::config_words("/nonexistent/kadchat.conf", {}));
    // A bad value is the parser's to find, with its usual message: exit 2, no node.
    TempFile bad{"k = 0\n"};
    CHECK(parse({"daemon", "--config=" + bad.path}).mode == cli::Parsed::Mode::exit);
    CHECK(parse({"daemon", "--config=/nonexistent/kadchat.conf"}).mode == cli::Parsed::Mode::exit);
    // ctl never reads it.
    CHECK(parse({"ctl", "id"}).mode == cli::Parsed::Mode::ctl);
}
