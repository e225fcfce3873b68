#include "cli/runtime.hpp"

#include <fcntl.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "crypto/key_file.hpp"
#include "net/sockaddr.hpp"

namespace cli {

namespace {
constexpr uint16_t kDefaultPort = 44544;

std::string key_path(const std::string& dir) { return dir + "/identity.key"; }
std::string contacts_path(const std::string& dir) { return dir + "/contacts.json"; }
std::string socket_path(const std::string& dir) { return dir + "/control.sock"; }

chat::Payload ping_payload(chat::PayloadType type, uint64_t n) {
    chat::Payload p;
    p.type = type;
    p.n = n;
    return p;
}

base::Status mkdir_p(const std::string& dir) {
    std::string cur;
    std::stringstream ss(dir);
    std::string part;
    if (!dir.empty() && dir[0] == '/') cur = "/";
    while (std::getline(ss, part, '/')) {
        if (part.empty()) continue;
        cur += part + "/";
        if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
            return base::io_error("cannot create " + cur + ": " + std::strerror(errno));
    }
    return {};
}

// True if a node answers on the control socket at `path`.
bool socket_alive(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
}
}  // namespace

Runtime::Runtime(net::Loop& loop, const NodeOptions& opts, base::Rng& rng, base::Logger& log)
    : loop_{loop}, opts_{opts}, rng_{rng}, log_{log}, recv_buf_{70000}, decoder_{65000} {
    cfg_.k = opts.k;
    cfg_.alpha = opts.alpha;
}

Runtime::~Runtime() {
    shutdown();
    stop_timer_.reset();
}

base::Result<std::optional<std::string>> Runtime::passphrase() {
    if (!opts_.passphrase_file.empty()) {
        std::ifstream f(opts_.passphrase_file);
        if (!f) return base::io_error("cannot read --passphrase-file " + opts_.passphrase_file);
        std::string line;
        std::getline(f, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) return base::invalid_argument("--passphrase-file " + opts_.passphrase_file + " is empty");
        return std::optional<std::string>{std::move(line)};
    }
    std::string path = key_path(opts_.data_dir);
    if (!crypto::is_encrypted_key_file(path) || !::isatty(STDIN_FILENO)) return std::optional<std::string>{};
    // Ask on the terminal with echo off.
    std::cerr << "Passphrase for " << path << ": " << std::flush;
    termios old{};
    bool restore = tcgetattr(STDIN_FILENO, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (restore) tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
    return std::optional<std::string>{std::move(line)};
}

base::Status Runtime::start_sessions() {
    session_keys_ = std::make_unique<crypto::SessionKeys>(host_->identity());
    sessions_ = std::make_unique<SessionHost>(loop_, *turn_, *session_keys_, rng_, log_, host_.get());
    if (auto st = sessions_->start(); !st.ok()) return st;
    // Sessions use TCP on the DHT's port, so a contact's endpoint names both.
    size_t ok = 0;
    for (auto& ep : host_->local_endpoints()) {
        auto st = sessions_->listen(ep);
        if (st.ok()) {
            ++ok;
        } else {
            KC_LOG(log_, warn, "session", "cannot accept sessions on tcp %s: %s", ep.to_string().c_str(),
                   st.detail().c_str());
        }
    }
    if (ok == 0) KC_LOG(log_, warn, "session", "no TCP listener: peers cannot open sessions to this node");
    sessions_->on_message = [this](const crypto::PublicKey& peer, std::span<const uint8_t> m) {
        on_session_payload(peer, m);
    };
    sessions_->on_down = [this](const crypto::PublicKey& peer, const session::Closed& why) {
        ping_finish(peer, base::Status{base::Errc::unavailable, "session closed: " + why.to_string()});
        if (chat_) chat_->session_down(peer);
    };
    sessions_->on_up = [this](const crypto::PublicKey& peer, const session::LinkInfo& link) {
        if (chat_) chat_->session_up(peer);
        // Tell a person at the prompt when a contact is reached directly (not for strangers).
        if (input_ && input_->interactive() && chat_ && chat_->contacts().find(peer))
            input_->print("(" + name_of(peer) +
                          (link.path == session::Path::relay
                               ? ": connected through a relay, " + link.remote.to_string() + ")"
                               : ": connected directly, " + std::string(session::path_name(link.path)) + " via " +
                                     session::method_name(link.method) + ")"));
    };
    sessions_->on_room = [this](const crypto::PublicKey& peer) {
        if (chat_) chat_->writable(peer);
    };
    sessions_->on_attempt = [this](const crypto::PublicKey& peer) {
        if (chat_) chat_->connecting(peer);
    };
    sessions_->on_unreachable = [this](const crypto::PublicKey& peer, const std::string& why) {
        if (chat_) chat_->unreachable(peer, why);
    };
    // Our candidates for a rendezvous: interface addresses (LAN), then the public endpoints
    // DHT contacts see us at; one port serves UDP and TCP.
    sessions_->candidates = [this] {
        std::vector<session::Candidate> out;
        auto add = [&](session::Candidate::Kind k, const base::Endpoint& ep) {
            if (ep.is_loopback() || ep.is_unspecified() || ep.port == 0) return;
            // An IPv6 link-local address means nothing without its interface: never a candidate.
            if (ep.is_link_local()) return;
            for (auto& c : out)
                if (c.endpoint == ep) return;
            out.push_back({k, ep});
        };
        // (A public interface address, as on a host behind a plain firewall, is where others
        // see us: not a LAN.)
        for (auto& ep : interface_endpoints())
            add(ep.is_private() ? session::Candidate::Kind::lan : session::Candidate::Kind::reflexive, ep);
        for (auto& ep : host_->peek().nat().public_endpoints()) add(session::Candidate::Kind::reflexive, ep);
        if (out.size() > session::kMaxCandidates) out.resize(session::kMaxCandidates);
        return out;
    };
    return {};
}

struct Runtime::PingRun {
    crypto::PublicKey peer{};
    uint64_t count = 0, next = 0;
    std::map<uint64_t, base::TimePoint> in_flight;
    PingReport report;
    base::TimePoint started{};
    std::function<void(base::Status, PingReport)> done;
    std::unique_ptr<net::Timer> timeout;
};

void Runtime::ping(const crypto::PublicKey& peer, uint64_t count, std::function<void(base::Status, PingReport)> done) {
    if (pings_.count(peer)) return done(base::Status{base::Errc::exists, "a ping to this peer is running"}, {});
    auto run = std::make_unique<PingRun>();
    run->peer = peer;
    run->count = count;
    run->started = base::steady_now();
    run->done = std::move(done);
    auto t = net::Timer::make(loop_, [this, peer] {
        ping_finish(peer, base::Status{base::Errc::timeout, "no answer for 10 s"});
    });
    if (!t) return run->done(t.status(), {});
    run->timeout = std::move(*t);
    run->timeout->start(10000);
    PingRun& r = *run;
    pings_.emplace(peer, std::move(run));
    ping_step(r);
}

void Runtime::ping_step(PingRun& run) {
    constexpr size_t kWindow = 64;
    sessions_->cork();
    while (run.next < run.count && run.in_flight.size() < kWindow) {
        std::string m = chat::encode(ping_payload(chat::PayloadType::ping, run.next));
        auto st = sessions_->send(run.peer, {reinterpret_cast<const uint8_t*>(m.data()), m.size()});
        if (!st.ok()) break;  // (queue full: the next pong sends more)
        run.in_flight[run.next] = base::steady_now();
        ++run.next;
        ++run.report.sent;
    }
    sessions_->uncork();
}

void Runtime::ping_finish(const crypto::PublicKey& peer, base::Status st) {
    auto it = pings_.find(peer);
    if (it == pings_.end()) return;
    auto run = std::move(it->second);
    pings_.erase(it);
    run->report.duration_ms = base::to_ms(base::steady_now() - run->started);
    run->done(st, std::move(run->report));
}

void Runtime::on_session_payload(const crypto::PublicKey& peer, std::span<const uint8_t> bytes) {
    ++payload_counts_.received;
    auto p = payload_decoder_.decode(bytes);
    if (!p) {
        bool unknown = p.status().code() == base::Errc::not_found;
        ++(unknown ? payload_counts_.unknown_type : payload_counts_.malformed);
        KC_LOG(log_, debug, "session", "payload from %s dropped: %s", dht::NodeId{peer}.short_hex().c_str(),
               p.status().detail().c_str());
        return;
    }
    if (p->type != chat::PayloadType::ping && p->type != chat::PayloadType::pong) {  // the rest is chat
        if (chat_) chat_->payload(peer, *p);
        return;
    }
    if (p->type == chat::PayloadType::ping) {
        std::string m = chat::encode(ping_payload(chat::PayloadType::pong, p->n));
        if (sessions_->send(peer, {reinterpret_cast<const uint8_t*>(m.data()), m.size()}).ok())
            ++payload_counts_.pings_answered;
        return;
    }
    auto it = pings_.find(peer);
    if (it == pings_.end()) return;
    PingRun& run = *it->second;
    auto f = run.in_flight.find(p->n);
    if (f == run.in_flight.end()) return;
    run.report.rtt_ms.push_back(base::to_ms(base::steady_now() - f->second));
    run.in_flight.erase(f);
    ++run.report.received;
    if (run.report.received == run.count) return ping_finish(peer, {});
    run.timeout->start(10000);  // ten seconds without progress, not in total
    ping_step(run);
}

base::Status Runtime::prepare_data_dir() {
    if (auto st = mkdir_p(opts_.data_dir); !st.ok()) return st;
    // Someone else's directory (root on a user's data dir, say) would fill up with files its owner
    // cannot read or replace: refuse it, as ssh refuses keys in directories others own.
    struct stat info {};
    if (::stat(opts_.data_dir.c_str(), &info) != 0)
        return base::io_error("data directory " + opts_.data_dir + ": " + std::strerror(errno));
    if (info.st_uid != ::geteuid())
        return {base::Errc::permission, "data directory " + opts_.data_dir + " belongs to user " +
                                            std::to_string(info.st_uid) + ", not to you (user " +
                                            std::to_string(::geteuid()) + "); use your own --data-dir"};
    if (socket_path(opts_.data_dir).size() >= sizeof(sockaddr_un{}.sun_path))
        return base::invalid_argument("data directory path too long for a control socket: " + opts_.data_dir);
    return {};
}

base::Status Runtime::bind_sockets() {
    std::vector<std::string> listen = opts_.listen;
    if (listen.empty()) listen.push_back("0.0.0.0:" + std::to_string(kDefaultPort));
    for (auto& text : listen) {
        auto eps = net::resolve(text);
        if (!eps) return base::invalid_argument("--listen " + text + ": " + eps.status().detail());
        auto st = host_->bind(eps->front());
        if (!st.ok() && !opts_.listen_given && st.code() == base::Errc::exists) {
            base::Endpoint any = eps->front();
            any.port = 0;
            KC_LOG(log_, warn, "net", "port %u is in use (another node?); using a free port", kDefaultPort);
            st = host_->bind(any);
        }
        if (!st.ok()) return st;
    }
    return {};
}

std::vector<base::Endpoint> Runtime::resolve_bootstrap() {
    std::vector<std::string> names = opts_.bootstrap;
    if (!opts_.bootstrap_file.empty()) {
        std::ifstream f(opts_.bootstrap_file);
        if (!f) {
            KC_LOG(log_, error, "dht", "cannot read bootstrap file %s: %s", opts_.bootstrap_file.c_str(),
                   std::strerror(errno));
        }
        std::string line;
        int lineno = 0;
        while (std::getline(f, line)) {
            ++lineno;
            if (auto h = line.find('#'); h != std::string::npos) line.erase(h);
            auto b = line.find_first_not_of(" \t\r");
            auto e = line.find_last_not_of(" \t\r");
            if (b == std::string::npos) continue;
            names.push_back(line.substr(b, e - b + 1));
        }
    }
    std::vector<base::Endpoint> out;
    for (auto& n : names) {
        auto eps = net::resolve(n);
        if (!eps) {
            KC_LOG(log_, warn, "dht", "bootstrap %s: %s", n.c_str(), eps.status().detail().c_str());
            continue;
        }
        for (auto& ep : *eps) {
            bool have_family = false;
            for (auto& l : host_->local_endpoints()) have_family |= l.is_v6() == ep.is_v6();
            if (have_family) out.push_back(ep);
        }
    }
    return out;
}

void Runtime::load_saved_contacts() {
    std::ifstream f(contacts_path(opts_.data_dir));
    if (!f) return;
    std::vector<dht::NodeInfo> contacts;
    try {
        auto j = nlohmann::json::parse(f);
        for (auto& c : j.at("contacts")) {
            auto id = dht::NodeId::from_hex(c.at("id").get<std::string>());
            auto ep = base::Endpoint::parse(c.at("endpoint").get<std::string>());
            if (id && ep) contacts.push_back({*id, *ep});
        }
    } catch (const std::exception& e) {
        // The file is only a hint for a faster join; a corrupt one is ignored and rewritten on exit.
        KC_LOG(log_, warn, "dht", "ignoring unreadable %s: %s", contacts_path(opts_.data_dir).c_str(), e.what());
        return;
    }
    node().add_saved_contacts(contacts);
    KC_LOG(log_, info, "dht", "loaded %zu saved contacts", contacts.size());
}

void Runtime::save_contacts() {
    if (!host_ || !host_->started()) return;
    nlohmann::json arr = nlohmann::json::array();
    for (auto& b : node().table().buckets())
        for (auto& c : b.live) arr.push_back({{"id", c.id.hex()}, {"endpoint", c.endpoint.to_string()}});
    // An empty table keeps the previous list (it is still the best hint we have); with no list
    // yet, an empty one is written, so that the file is always there after a run.
    if (arr.empty() && ::access(contacts_path(opts_.data_dir).c_str(), F_OK) == 0) return;
    std::string tmp = contacts_path(opts_.data_dir) + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << nlohmann::json{{"version", 1}, {"contacts", arr}}.dump(1) << "\n";
        if (!f) return;
    }
    std::rename(tmp.c_str(), contacts_path(opts_.data_dir).c_str());
}

base::Status Runtime::start() {
    started_at_ = base::steady_now();
    // At the prompt, only warnings unless --log-level says otherwise, from the first line on (the
    // start's info lines would otherwise come before the prompt lowers the level).
    if (!opts_.daemon && !opts_.log_level_given && ::isatty(STDIN_FILENO)) log_.set_level(base::Level::warn);
    if (auto st = prepare_data_dir(); !st.ok()) return st;
    if (socket_alive(socket_path(opts_.data_dir)))
        return {base::Errc::exists, "another node is already running with data directory " + opts_.data_dir +
                                        " (use --data-dir to run a second one)"};
    ::unlink(socket_path(opts_.data_dir).c_str());

    bool created = false;
    auto pass = passphrase();
    if (!pass) return pass.status();
    crypto::KeyFileOptions key_opts;
    if (*pass) key_opts.passphrase = &**pass;
    auto id = crypto::load_or_create_identity(key_path(opts_.data_dir), created, key_opts);
    if (*pass) crypto::secure_wipe((*pass)->data(), (*pass)->size());
    if (!id) return id.status();
    log_.set_tag(dht::NodeId{id->public_key}.short_hex());
    KC_LOG(log_, info, "node", "%s identity %s", created ? "created new" : "loaded",
           dht::NodeId{id->public_key}.hex().c_str());

    auto turn = net::LoopTurn::make(loop_);
    if (!turn) return turn.status();
    turn_ = std::move(*turn);
    host_ = std::make_unique<NodeHost>(loop_, *turn_, recv_buf_, decoder_, rng_, log_, cfg_, std::move(*id));
    if (auto st = bind_sockets(); !st.ok()) return st;
    std::optional<base::Endpoint> public_address;
    if (!opts_.public_address.empty()) {
        auto eps = net::resolve(opts_.public_address);
        if (!eps) return base::invalid_argument("--public-address " + opts_.public_address + ": " + eps.status().detail());
        public_address = eps->front();
    }
    // Who is a full DHT member from the start (PROTOCOL.md §16.1): a node that founds a network
    // (no bootstrap given: its operator means it to be joined), one with a known public address,
    // one that listens on loopback only. Everyone else is a client until a NAT check says others
    // can reach it.
    bool loopback_only = true;
    for (auto& ep : host_->local_endpoints()) loopback_only &= ep.is_loopback();
    bool founder = opts_.bootstrap.empty() && opts_.bootstrap_file.empty();
    cfg_.client_until_reachable = !founder && !public_address && !loopback_only;
    cfg_.keepalive = std::chrono::seconds(opts_.nat_keepalive_s);
    cfg_.relay = opts_.relay;
    if (!opts_.relay_limits.empty()) {
        auto limits = dht::parse_relay_limits(opts_.relay_limits);
        if (!limits) return limits.status();
        cfg_.relay_limits = *limits;
    }
    if (auto st = host_->start(); !st.ok()) return st;
    {
        std::vector<base::Endpoint> local;
        for (auto& a : interface_endpoints()) local.push_back(a);
        node().set_local_addresses(std::move(local));
        node().set_public_address(public_address);
    }
    if (auto st = start_sessions(); !st.ok()) return st;
    // Port mapping: not for a node on loopback only, nor one whose operator named its public
    // address (a port forward made by hand), nor when turned off.
    if (opts_.port_mapping && !loopback_only && !public_address) {
        for (auto& ep : host_->local_endpoints()) {
            if (ep.is_v6()) continue;  // IPv4 only (PCP could open an IPv6 firewall too: not done)
            net::PortMapRequest req;
            req.internal_port = ep.port;
            req.pcp = opts_.map_pcp;
            req.natpmp = opts_.map_natpmp;
            req.upnp = opts_.map_upnp;
            auto pm = PortMapHost::start(loop_, *turn_, log_, req, [this](std::optional<base::Endpoint> ext) {
                node().set_public_address(ext);
            });
            if (pm)
                port_map_ = std::move(*pm);
            else
                KC_LOG(log_, warn, "nat", "no port mapping: %s", pm.status().detail().c_str());
            break;
        }
    }
    // LAN discovery: not for a node on loopback only (it has no LAN, and tests on this machine
    // must send nothing beyond it), nor when turned off.
    if (opts_.lan_discovery && !loopback_only) {
        auto lan = LanHost::start(loop_, *turn_, recv_buf_, *host_, log_, kLanGroup, host_->local_endpoints().front().port);
        if (lan)
            lan_ = std::move(*lan);
        else
            KC_LOG(log_, warn, "dht", "no LAN discovery: %s", lan.status().detail().c_str());
    }
    chat_ = std::make_unique<ChatHost>(*host_, *sessions_, loop_, *turn_, rng_, log_);
    if (auto st = chat_->start(opts_.data_dir, host_->identity()); !st.ok()) return st;
    chat_->on_notice = [this](const chat::Notice& n) { on_notice(n); };
    chat_->on_joined = [this] {
        save_contacts();  // a node killed with -9 later still finds the network again
        if (input_ && input_->interactive())
            input_->print("Joined the network (" + std::to_string(node().table().size()) + " DHT contacts).");
    };

    auto ctl = net::ControlServer::listen(loop_, socket_path(opts_.data_dir),
                                          [this](const std::string& line, net::ControlServer::Reply reply) {
        std::vector<std::string> words;
        try {
            auto j = nlohmann::json::parse(line);
            words = j.at("argv").get<std::vector<std::string>>();
        } catch (const std::exception&) {
            reply("{\"ok\":false,\"error\":\"request is not {\\\"argv\\\": [...]}\"}\n");
            return;
        }
        execute(words, [reply](CommandReply r) {
            nlohmann::json out = r.ok ? nlohmann::json{{"ok", true}, {"result", r.result}}
                                      : nlohmann::json{{"ok", false}, {"error", r.error}};
            reply(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        });
    });
    if (!ctl) return ctl.status();
    control_ = std::move(*ctl);

    auto sig = net::Signals::make(loop_, [this](int signum) {
        KC_LOG(log_, info, "node", "signal %d: shutting down", signum);
        request_stop();
    });
    if (!sig) return sig.status();
    signals_ = std::move(*sig);
    auto st = net::Timer::make(loop_, [this] { shutdown(); });
    if (!st) return st.status();
    stop_timer_ = std::move(*st);
    // The routing table is saved at exit, after joining, and every 5 minutes: kill -9 (or a
    // crash) must not leave a node with nothing but a bootstrap list that may be gone.
    auto save = net::Timer::make(loop_, [this] {
        save_contacts();
        if (save_timer_) save_timer_->start(kSaveContactsMs);
    });
    if (!save) return save.status();
    save_timer_ = std::move(*save);
    save_timer_->start(kSaveContactsMs);
    // A node on loopback only has no network to change.
    if (!loopback_only) watch_network();

    auto boot = resolve_bootstrap();
    node().set_bootstrap(boot);
    load_saved_contacts();
    if ((!opts_.bootstrap.empty() || !opts_.bootstrap_file.empty()) && boot.empty())
        KC_LOG(log_, warn, "dht", "no bootstrap address could be resolved; will retry with saved contacts only");
    node().join(base::steady_now());
    print_banner();

    if (!opts_.daemon) {
        auto on_line = [this](std::string line) { on_prompt_line(std::move(line)); };
        auto on_eof = [this] {
            if (input_ && input_->interactive()) return request_stop();
            finish_script(0);
        };
        InputSetup setup{opts_.data_dir + "/input_history",
                         [this](const std::string& line, const std::string& word, size_t index) {
                             return complete(line, word, index);
                         }};
        if (full_screen_wanted(!opts_.tui)) {
            ScreenHooks hooks{[this] { return screen_view(); },
                              [this](const crypto::PublicKey& k) {
                                  selected_ = k;
                                  update_prompt();
                              }};
            input_ = open_full_screen(loop_, on_line, on_eof, setup, std::move(hooks));
        }
        if (!input_) input_ = Input::open_stdin(loop_, on_line, on_eof, std::move(setup));
        if (!input_) return base::io_error("cannot read standard input (use `kadchat daemon` to run without one)");
        if (input_->interactive()) {
            // Log lines would tear the line being typed: they go through the prompt, and only
            // warnings unless --log-level says otherwise.
            if (auto* term_log = dynamic_cast<base::StderrLogger*>(&log_)) {
                if (!opts_.log_level_given) log_.set_level(base::Level::warn);
                term_log->set_sink([this](const std::string& line) {
                    if (input_) input_->print(line);
                });
            }
            input_->print("Type a message, or /help for commands; /quit leaves.");
            for (auto& p : chat_->problems()) input_->print("warning: " + p);
        }
        update_prompt();
    }
    return {};
}

std::vector<std::string> Runtime::shareable_addresses() const {
    std::vector<std::string> out;
    for (auto& ep : interface_endpoints()) out.push_back(ep.to_string());
    return out;
}

// Our sockets' addresses; a socket bound to the wildcard address stands for every interface's
// address (and loopback) with its port.
std::vector<base::Endpoint> Runtime::interface_endpoints() const {
    std::vector<base::Endpoint> out;
    for (auto& ep : host_->local_endpoints()) {
        if (!ep.is_unspecified()) {
            out.push_back(ep);
            continue;
        }
        uv_interface_address_t* ifs = nullptr;
        int n = 0;
        if (uv_interface_addresses(&ifs, &n) != 0) continue;
        for (int i = 0; i < n; ++i) {
            base::Endpoint a;
            if (!net::from_sockaddr(reinterpret_cast<sockaddr*>(&ifs[i].address), a)) continue;
            if (a.is_v6() != ep.is_v6() || ifs[i].is_internal) continue;
            a.port = ep.port;
            out.push_back(a);
        }
        uv_free_interface_addresses(ifs, n);
        base::Endpoint loop_ep = ep.is_v6() ? *base::Endpoint::parse("[::1]:1") : base::Endpoint::v4(127, 0, 0, 1, 1);
        loop_ep.port = ep.port;
        out.push_back(loop_ep);
    }
    return out;
}

void Runtime::print_banner() {
    auto addrs = shareable_addresses();
    std::string list;
    for (auto& a : addrs) list += "  kadchat --bootstrap " + a + "\n";
    if (opts_.bootstrap.empty() && opts_.bootstrap_file.empty() && node().join_state() == dht::Node::JoinState::alone) {
        std::cout << "kadchat node " << node().id().short_hex() << " started a new network.\n"
                  << "Others can join it with:\n" << list << std::flush;
    } else {
        std::string at;
        for (auto& a : addrs) at += (at.empty() ? "" : ", ") + a;
        std::cout << "kadchat node " << node().id().short_hex() << " joining the network; listening on " << at << "\n"
                  << std::flush;
    }
    std::cout << "Control: kadchat ctl --data-dir " << opts_.data_dir << " id\n" << std::flush;
}

void Runtime::request_stop() {
    if (stop_timer_) stop_timer_->start(0);  // never tear down from inside a callback of ours
}

void Runtime::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    save_contacts();
    if (auto* term_log = dynamic_cast<base::StderrLogger*>(&log_)) term_log->set_sink(nullptr);
    input_.reset();
    script_timer_.reset();
    save_timer_.reset();
    net_timer_.reset();
    chat_.reset();  // before the sessions and the node it calls
    control_.reset();
    signals_.reset();
    for (auto& [peer, run] : pings_) run->timeout.reset();
    pings_.clear();
    if (sessions_) sessions_->close_all();
    sessions_.reset();
    port_map_.reset();  // deletes the mapping; the loop runs until the router answered
    lan_.reset();
    host_.reset();
    turn_.reset();
    // stop_timer_ stays: shutdown() may be running inside its callback. It is inactive, so the
    // loop still ends; ~Runtime closes it.
}

}  // namespace cli
