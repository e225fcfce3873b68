#pragma once
// The running node: data directory, identity, sockets (through NodeHost), the control socket,
// the interactive prompt, signals and shutdown. main() owns the loop and one Runtime.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>

#include "base/logger.hpp"
#include "cli/chat_host.hpp"
#include "cli/full_screen.hpp"
#include "cli/lan_host.hpp"
#include "cli/node_host.hpp"
#include "cli/port_map_host.hpp"
#include "cli/session_host.hpp"
#include "cli/terminal.hpp"
#include "cli/options.hpp"
#include "chat/payload.hpp"
#include "crypto/handshake.hpp"
#include "net/control_server.hpp"
#include "net/loop_turn.hpp"
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
    SessionHost& sessions() { return *sessions_; }
    const LanHost* lan() const { return lan_.get(); }
    const PortMapHost* port_map() const { return port_map_.get(); }
    ChatHost& chat() { return *chat_; }
    const NodeOptions& options() const { return opts_; }
    base::TimePoint started_at() const { return started_at_; }
    void request_stop();

    // `ctl ping`: `count` application-level pings over the session, at most 64 in flight.
    struct PingReport {
        uint64_t sent = 0, received = 0;
        std::vector<double> rtt_ms;
        double duration_ms = 0;
    };
    void ping(const crypto::PublicKey& peer, uint64_t count, std::function<void(base::Status, PingReport)> done);
    struct PayloadCounts {
        uint64_t received = 0, malformed = 0, unknown_type = 0, pings_answered = 0;
    };
    const PayloadCounts& payload_counts() const { return payload_counts_; }
    std::vector<std::string> shareable_addresses() const;
    // Our interface addresses with our port (LAN candidates; what "no NAT" looks like).
    std::vector<base::Endpoint> interface_endpoints() const;

private:
    base::Status prepare_data_dir();
    base::Status bind_sockets();
    base::Status start_sessions();
    base::Result<std::optional<std::string>> passphrase();
    std::vector<base::Endpoint> resolve_bootstrap();
    void load_saved_contacts();
    void save_contacts();
    void on_prompt_line(std::string line);
    // Runs a command typed at the prompt and prints its reply; `then` (if any) runs after, told
    // whether it succeeded.
    void prompt_command(std::vector<std::string> words, std::function<void(bool ok)> then = {});
    // /add and /accept: the contact just added or accepted is the conversation the user means.
    void select_after(const std::string& cmd, bool ok, const std::string& who);
    void on_notice(const chat::Notice& n);
    void update_prompt();
    void finish_script(int waited_s);
    std::string name_of(const crypto::PublicKey& k) const;
    void on_session_payload(const crypto::PublicKey& peer, std::span<const uint8_t> bytes);
    struct PingRun;
    void ping_step(PingRun& run);
    void ping_finish(const crypto::PublicKey& peer, base::Status st);
    void print_banner();
    // What the full-screen client draws (screen_view.cpp).
    ScreenView screen_view();
    // Tab at the prompt: command names for the first word, contact names after (prompt.cpp).
    std::vector<std::string> complete(const std::string& line, const std::string& word, size_t index) const;
    void watch_network();  // network_change.cpp
    void check_network();

    net::Loop& loop_;
    std::unique_ptr<net::LoopTurn> turn_;
    NodeOptions opts_;
    base::Rng& rng_;
    base::Logger& log_;
    dht::Config cfg_;
    net::RecvBuffer recv_buf_;
    dht::Decoder decoder_;
    std::unique_ptr<NodeHost> host_;
    std::unique_ptr<crypto::SessionKeys> session_keys_;
    std::unique_ptr<SessionHost> sessions_;
    std::unique_ptr<LanHost> lan_;
    std::unique_ptr<PortMapHost> port_map_;
    chat::PayloadDecoder payload_decoder_;
    PayloadCounts payload_counts_;
    std::map<crypto::PublicKey, std::unique_ptr<PingRun>> pings_;
    std::unique_ptr<net::ControlServer> control_;
    std::unique_ptr<net::Signals> signals_;
    std::unique_ptr<ChatHost> chat_;
    std::unique_ptr<Input> input_;
    std::optional<crypto::PublicKey> selected_;   // the prompt's conversation
    std::optional<crypto::PublicKey> last_request_;
    std::unique_ptr<net::Timer> script_timer_;
    int script_waited_s_ = 0;
    std::unique_ptr<net::Timer> stop_timer_;
    std::unique_ptr<net::Timer> save_timer_;  // contacts.json every kSaveContactsMs
    static constexpr uint64_t kSaveContactsMs = 5 * 60 * 1000;
    std::unique_ptr<net::Timer> net_timer_;           // polls the interface addresses
    std::vector<base::Endpoint> known_addresses_;
    static constexpr uint64_t kNetworkPollMs = 2000;
    base::TimePoint started_at_{};
    bool stopped_ = false;
};

}  // namespace cli
