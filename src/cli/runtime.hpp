#pragma once
// The running node: data directory, identity, sockets (through NodeHost), the control socket,
// the interactive prompt, signals and shutdown. main() owns the loop and one Runtime.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/logger.hpp"
#include "cli/node_host.hpp"
#include "cli/options.hpp"
#include "crypto/handshake.hpp"
#include "net/control_server.hpp"
#include "net/session_manager.hpp"
#include "net/udp_socket.hpp"

namespace cli {

struct CommandReply {
    bool ok = true;
    nlohmann::json result;
    std::string error;
};
using CommandDone = std::function<void(CommandReply)>;

class Runtime {
public:
    Runtime(net::Loop& loop, const NodeOptions& opts, base::Rng& rng, base::Logger& log);
    ~Runtime();
    // Opens everything; on failure the caller prints the status and exits non-zero.
    base::Status start();
    // Saves the routing table and closes every handle; the loop then returns.
    void shutdown();

    // Runs one command (shared by the control socket and the prompt).
    void execute(const std::vector<std::string>& words, CommandDone done);

    dht::Node& node() { return host_->node(); }
    NodeHost& host() { return *host_; }
    net::SessionManager& sessions() { return *sessions_; }
    const NodeOptions& options() const { return opts_; }
    base::TimePoint started_at() const { return started_at_; }
    void request_stop();
    std::vector<std::string> shareable_addresses() const;

private:
    base::Status prepare_data_dir();
    base::Status bind_sockets();
    base::Status start_sessions();
    base::Result<std::optional<std::string>> passphrase();
    std::vector<base::Endpoint> resolve_bootstrap();
    void load_saved_contacts();
    void save_contacts();
    void on_prompt_line(std::string line);
    void print_banner();

    net::Loop& loop_;
    NodeOptions opts_;
    base::Rng& rng_;
    base::Logger& log_;
    dht::Config cfg_;
    net::RecvBuffer recv_buf_;
    dht::Decoder decoder_;
    std::unique_ptr<NodeHost> host_;
    std::unique_ptr<crypto::SessionKeys> session_keys_;
    std::unique_ptr<net::SessionManager> sessions_;
    std::unique_ptr<net::ControlServer> control_;
    std::unique_ptr<net::Signals> signals_;
    std::unique_ptr<net::LineReader> prompt_;
    std::unique_ptr<net::Timer> stop_timer_;
    base::TimePoint started_at_{};
    bool stopped_ = false;
};

}  // namespace cli
