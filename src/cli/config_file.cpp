#include "cli/config_file.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace cli {

namespace {
struct Known {
    const char* name;
    bool flag;
};
// The node's options (src/cli/options.cpp's usage text), less --config itself.
constexpr Known kKnown[] = {
    {"data-dir", false},        {"listen", false},       {"bootstrap", false},     {"bootstrap-file", false},
    {"passphrase-file", false}, {"log-level", false},    {"k", false},             {"alpha", false},
    {"public-address", false},  {"nat-keepalive", false}, {"no-relay", true},      {"no-lan-discovery", true},
    {"relay-limits", false},    {"no-port-mapping", true},  {"port-mapping", false},
    {"no-tui", true},
};

std::string trim(std::string s) {
    auto sp = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!s.empty() && sp(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && sp(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

bool on_command_line(const std::vector<std::string>& argv, const std::string& name) {
    std::string opt = "--" + name;
    return std::any_of(argv.begin(), argv.end(), [&](const std::string& w) {
        return w == opt || w.rfind(opt + "=", 0) == 0;
    });
}
}  // namespace

std::string default_config_path() {
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/kadchat/kadchat.conf";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/kadchat/kadchat.conf";
    return {};
}

base::Result<std::vector<std::string>> config_words(const std::string& path, const std::vector<std::string>& argv) {
    std::ifstream f(path);
    if (!f) return base::io_error("cannot read the config file " + path);
    std::vector<std::string> out;
    std::string line;
    for (int n = 1; std::getline(f, line); ++n) {
        if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        line = trim(line);
        if (line.empty()) continue;
        std::string name = line, value;
        bool has_value = false;
        if (auto eq = line.find('='); eq != std::string::npos) {
            name = trim(line.substr(0, eq));
            value = trim(line.substr(eq + 1));
            has_value = true;
        }
        auto where = path + ":" + std::to_string(n) + ": ";
        auto it = std::find_if(std::begin(kKnown), std::end(kKnown), [&](const Known& k) { return name == k.name; });
        if (it == std::end(kKnown))
            return base::invalid_argument(where + "unknown option '" + name + "' (the options are those of kadchat --help)");
        if (on_command_line(argv, name)) continue;  // the command line wins
        if (it->flag) {
            if (!has_value || value == "true" || value == "yes") out.push_back("--" + name);
            else if (value != "false" && value != "no")
                return base::invalid_argument(where + name + " takes true or false, not '" + value + "'");
            continue;
        }
        if (!has_value || value.empty()) return base::invalid_argument(where + name + " needs a value: " + name + " = ...");
        out.push_back("--" + name + "=" + value);
    }
    return out;
}

}  // namespace cli
