#include "cli/ctl_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"

namespace cli {

int run_ctl(const CtlOptions& opts) {
    std::string path = opts.data_dir + "/control.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::cerr << "kadchat ctl: socket: " << std::strerror(errno) << "\n";
        return 1;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        std::cerr << "kadchat ctl: data directory path too long\n";
        ::close(fd);
        return 2;
    }
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        std::cerr << "kadchat ctl: no node is running with data directory " << opts.data_dir << " ("
                  << std::strerror(errno) << "); start one with: kadchat daemon --data-dir "
                  << opts.data_dir << "\n";
        ::close(fd);
        return 3;
    }
    std::string req = nlohmann::json{{"argv", opts.argv}}.dump() + "\n";
    for (size_t off = 0; off < req.size();) {
        ssize_t n = ::write(fd, req.data() + off, req.size() - off);
        if (n <= 0) {
            std::cerr << "kadchat ctl: write: " << std::strerror(errno) << "\n";
            ::close(fd);
            return 1;
        }
        off += static_cast<size_t>(n);
    }
    std::string resp;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        resp.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(resp);
    } catch (const std::exception&) {
        std::cerr << "kadchat ctl: the node closed the connection without a reply\n";
        return 1;
    }
    if (!j.value("ok", false)) {
        std::cerr << "kadchat ctl: " << j.value("error", std::string("failed")) << "\n";
        if (opts.json && j.contains("result")) std::cout << j["result"].dump() << "\n";
        return 1;
    }
    if (opts.json)
        std::cout << j["result"].dump() << "\n";
    else
        std::cout << render_command(opts.argv, j["result"]);
    return 0;
}

}  // namespace cli
