#include "cli/commands.hpp"

#include <functional>
#include <algorithm>
#include <map>

#include "base/hex.hpp"
#include "crypto/address.hpp"
#include "net/sockaddr.hpp"

namespace cli {

namespace {

using json = nlohmann::json;

int64_t ms_since(base::TimePoint t, base::TimePoint now) { return base::to_ms_int(now - t); }

json node_json(const dht::NodeInfo& n) { return {{"id", n.id.hex()}, {"endpoint", n.endpoint.to_string()}}; }

json nat_json(const dht::Node& node, base::TimePoint) {
    const auto& nat = node.nat();
    json pub = json::array();
    for (auto& ep : nat.public_endpoints()) pub.push_back(ep.to_string());
    json holders = json::array(), relays = json::array();
    for (auto& h : node.presence_holders()) holders.push_back(node_json(h));
    for (auto& h : node.relays()) relays.push_back(node_json(h));
    json checked = nullptr;
    if (nat.checked()) checked = base::to_ms_int(base::steady_now() - nat.checked_at()) / 1000;
    return {{"mapping", dht::mapping_name(nat.mapping())},
            {"filtering", dht::filtering_name(nat.filtering())},
            {"reachable", nat.reachable()},
            {"public", pub},
            {"checked_s", checked},
            {"serving", node.serving()},
            {"presence", holders},
            {"relays", relays},
            {"relaying", node.relaying()}};
}

// The circuits this node relays, with the limits and what they caught (PROTOCOL.md §17.4).
void cmd_relay(Runtime& rt, const Command&, CommandDone done) {
    auto now = base::steady_now();
    const dht::Relay& relay = rt.node().relay();
    json circuits = json::array();
    for (auto& c : relay.circuits(now))
        circuits.push_back({{"asker", c.asker.hex()},
                            {"asker_endpoint", c.asker_ep.to_string()},
                            {"target", c.target.hex()},
                            {"target_endpoint", c.target_ep.to_string()},
                            {"confirmed", c.confirmed},
                            {"age_s", base::to_ms_int(c.age) / 1000},
                            {"bytes", c.bytes},
                            {"datagrams", c.datagrams},
                            {"dropped_over_rate", c.dropped}});
    auto& l = relay.limits();
    auto& s = relay.stats();
    done({true,
          {{"relaying", rt.node().relaying()},
           {"limits", {{"circuits", l.circuits}, {"per_node", l.per_node}, {"rate_bytes_per_s", l.rate},
                       {"burst_bytes", l.burst}, {"bytes_per_circuit", l.bytes},
                       {"lifetime_s", base::to_ms_int(l.lifetime) / 1000}}},
           {"circuits", circuits},
           {"stats", {{"opened", s.opened}, {"refused", s.refused}, {"forwarded", s.forwarded},
                      {"forwarded_bytes", s.forwarded_bytes}, {"dropped_unknown", s.dropped_unknown},
                      {"dropped_spoofed", s.dropped_spoofed}, {"dropped_over_rate", s.dropped_rate},
                      {"dropped_malformed", s.dropped_malformed}, {"closed_byte_cap", s.closed_bytes},
                      {"closed_lifetime", s.closed_lifetime}, {"closed_by_end", s.closed_by_end},
                      {"closed_unconfirmed", s.closed_unconfirmed}, {"closed_reservation", s.closed_node}}}},
          {}});
}

// The router's port mapping (PROTOCOL.md §19): off, trying, or what it forwards.
json port_map_json(const Runtime& rt, base::TimePoint now) {
    const PortMapHost* pm = rt.port_map();
    if (!pm) return {{"state", "off"}};
    const auto& s = pm->schedule();
    json j = {{"attempts", s.attempts()}, {"failures", s.failures()}};
    if (!s.last_error().empty()) j["error"] = s.last_error();
    if (const auto& m = s.current()) {
        j["state"] = "mapped";
        j["protocol"] = m->protocol;
        j["gateway"] = m->gateway;
        j["external"] = m->external.to_string();
        j["tcp"] = m->tcp;
        j["lifetime_s"] = std::chrono::duration_cast<std::chrono::seconds>(m->lifetime).count();
        j["expires_in_s"] = s.expires_at() == base::kNever ? json(nullptr) : json(base::to_ms_int(s.expires_at() - now) / 1000);
    } else {
        j["state"] = s.running() ? "trying" : "none";
    }
    return j;
}

void cmd_id(Runtime& rt, const Command&, CommandDone done) {
    auto& node = rt.node();
    json listen = json::array();
    for (auto& ep : rt.host().local_endpoints()) listen.push_back(ep.to_string());
    json observed = json::array();
    for (auto& [ep, n] : node.observed()) observed.push_back({{"endpoint", ep.to_string()}, {"reports", n}});
    json tcp = json::array();
    for (auto& ep : rt.sessions().listening()) tcp.push_back(ep.to_string());
    json r = {{"id", node.id().hex()},
              {"public_key", base::to_hex(std::span<const uint8_t>{rt.host().identity().public_key})},
              {"address", crypto::encode_address(rt.host().identity().public_key)},
              {"listen", listen},
              {"tcp", tcp},
              {"shareable", rt.shareable_addresses()},
              {"observed", observed},
              {"state", dht::join_state_name(node.join_state())},
              {"nat", nat_json(node, rt.started_at())},
              {"port_mapping", port_map_json(rt, base::steady_now())},
              {"contacts", node.table().size()},
              {"data_dir", rt.options().data_dir},
              {"uptime_s", base::to_ms_int(base::steady_now() - rt.started_at()) / 1000}};
    done({true, r, {}});
}

void cmd_table(Runtime& rt, const Command&, CommandDone done) {
    auto now = base::steady_now();
    auto& table = rt.node().table();
    json buckets = json::array();
    for (size_t i = 0; i < table.buckets().size(); ++i) {
        auto& b = table.buckets()[i];
        json contacts = json::array();
        for (auto& c : b.live)
            contacts.push_back({{"id", c.id.hex()},
                                {"endpoint", c.endpoint.to_string()},
                                {"last_seen_ms", ms_since(c.last_seen, now)},
                                {"rtt_ms", base::to_ms(c.rtt)},
                                {"failures", c.failures}});
        buckets.push_back({{"index", i}, {"contacts", contacts}, {"replacements", b.replacements.size()}});
    }
    done({true, {{"id", rt.node().id().hex()}, {"k", rt.node().config().k}, {"size", table.size()}, {"buckets", buckets}}, {}});
}

json lookup_json(const dht::LookupResult& r) {
    json closest = json::array(), trace = json::array();
    for (auto& n : r.closest) closest.push_back(node_json(n));
    for (auto& t : r.trace)
        trace.push_back({{"hop", t.hop},
                         {"id", t.node.id.hex()},
                         {"endpoint", t.node.endpoint.to_string()},
                         {"sent_at_ms", base::to_ms(t.sent_at)},
                         {"rtt_ms", base::to_ms(t.rtt)},
                         {"outcome", dht::outcome_name(t.outcome)},
                         {"returned", t.returned},
                         {"closer", t.closer},
                         {"values", t.values}});
    return {{"target", r.target.hex()},
            {"found", r.found},
            {"hops", r.hops},
            {"messages", r.messages},
            {"duration_ms", base::to_ms(r.duration)},
            {"closest", closest},
            {"trace", trace}};
}

void cmd_lookup(Runtime& rt, const Command& c, CommandDone done) {
    auto id = dht::NodeId::from_hex(c.args.at("<id>"));
    if (!id) return done({false, {}, "lookup ID: " + id.status().detail()});
    rt.node().find_node(*id, [done](const dht::LookupResult& r) { done({true, lookup_json(r), {}}); },
                        base::steady_now());
}

json key_json(const KeyArg& k, const std::string& text) {
    return {{"key", k.key.hex()}, {"key_source", k.hashed ? "blake2b-256 of the string" : "hex"},
            {"key_text", text}};
}

void cmd_put(Runtime& rt, const Command& c, CommandDone done) {
    std::string text = c.args.at("<key>");
    KeyArg k = parse_key(text);
    const std::string& value = c.args.at("<value>");
    char* end = nullptr;
    std::string ttl_text = c.args.count("--ttl") ? c.args.at("--ttl") : "3600";
    long ttl = std::strtol(ttl_text.c_str(), &end, 10);
    if (*end || ttl <= 0 || ttl > 86400) return done({false, {}, "--ttl: expected 1 to 86400 seconds"});
    if (value.size() > rt.node().config().max_value_size)
        return done({false, {}, "value is " + std::to_string(value.size()) + " bytes; the limit is " +
                                    std::to_string(rt.node().config().max_value_size)});
    rt.node().put(k.key, value, std::chrono::seconds(ttl), [done, k, text, ttl](const dht::PutResult& r) {
        json out = key_json(k, text);
        out["stored"] = r.stored;
        out["attempted"] = r.attempted;
        out["stored_here"] = r.stored_here;
        out["errors"] = r.errors;
        out["ttl_s"] = ttl;
        out["lookup"] = {{"hops", r.lookup.hops}, {"messages", r.lookup.messages},
                         {"duration_ms", base::to_ms(r.lookup.duration)}};
        if (r.stored == 0) {
            std::string why = r.errors.empty() ? "no node accepted it" : r.errors.front();
            return done({false, out, "stored on no node: " + why});
        }
        done({true, out, {}});
    }, base::steady_now());
}

void cmd_get(Runtime& rt, const Command& c, CommandDone done) {
    std::string text = c.args.at("<key>");
    KeyArg k = parse_key(text);
    rt.node().get(k.key, [done, k, text](const dht::LookupResult& r) {
        json out = key_json(k, text);
        json values = json::array();
        for (auto& v : r.values) values.push_back({{"value", v.data}, {"publisher", v.publisher.hex()}, {"ttl_s", v.ttl_s}});
        out["found"] = r.found;
        out["values"] = values;
        out["hops"] = r.hops;
        out["messages"] = r.messages;
        out["duration_ms"] = base::to_ms(r.duration);
        done({true, out, {}});
    }, base::steady_now());
}

void cmd_storage(Runtime& rt, const Command&, CommandDone done) {
    auto now = base::steady_now();
    json vals = json::array();
    for (auto& [key, v] : rt.node().storage().all())
        vals.push_back({{"key", key.hex()},
                        {"publisher", v.publisher.hex()},
                        {"value", v.data},
                        {"bytes", v.data.size()},
                        {"expires_in_s", base::to_ms_int(v.expires_at - now) / 1000}});
    done({true, {{"count", vals.size()}, {"published_by_me", rt.node().published_count()}, {"values", vals}}, {}});
}

void cmd_stats(Runtime& rt, const Command&, CommandDone done) {
    auto& s = rt.node().stats();
    json methods = json::object();
    for (size_t i = 0; i < dht::kMethodCount; ++i) {
        auto& m = s.by_method[i];
        auto c = [](const dht::Counter& x) { return json{{"packets", x.packets}, {"bytes", x.bytes}}; };
        methods[dht::method_name(static_cast<dht::Method>(i))] = {
            {"query_in", c(m.query_in)},   {"query_out", c(m.query_out)}, {"reply_in", c(m.reply_in)},
            {"reply_out", c(m.reply_out)}, {"error_in", c(m.error_in)},   {"error_out", c(m.error_out)},
            {"timeouts", m.timeouts}};
    }
    json dropped = json::object();
    for (size_t i = 0; i < dht::kDropReasonCount; ++i)
        dropped[dht::drop_reason_name(static_cast<dht::DropReason>(i))] = s.dropped[i];
    // Datagrams on the DHT's socket that are not DHT messages and that nothing else took.
    dropped["not_dht"] = rt.host().other_dropped();
    dropped["empty"] = rt.host().empty_received();
    dropped["unknown_method"] = s.unknown_method_in.packets;
    done({true,
          {{"uptime_s", base::to_ms_int(base::steady_now() - rt.started_at()) / 1000},
           {"in", {{"packets", s.in.packets}, {"bytes", s.in.bytes}}},
           {"out", {{"packets", s.out.packets}, {"bytes", s.out.bytes}}},
           {"by_method", methods},
           {"dropped", dropped},
           {"dropped_total", s.dropped_total() + rt.host().other_dropped() + rt.host().empty_received() +
                                 s.unknown_method_in.packets},
           {"lookups", {{"started", s.lookups_started}, {"found", s.lookups_found}, {"not_found", s.lookups_failed},
                        {"active", rt.node().active_lookups()}}},
           {"short_timeouts", s.short_timeouts},
           {"values", {{"stored", s.values_stored}, {"refused", s.values_refused}}},
           {"bootstrap_attempts", s.bootstrap_attempts},
           {"send_errors", rt.host().send_errors()},
           {"oversized_sent", {{"dht", rt.host().oversized_dht()}, {"other", rt.host().oversized_other()}}},
           {"unverified_queries", s.unverified_queries},
           {"hellos", s.hellos},
           {"lan", rt.lan() ? json{{"on", true}, {"announced", rt.lan()->stats().sent},
                                   {"heard", rt.lan()->stats().received}, {"found", rt.lan()->stats().found},
                                   {"malformed", rt.lan()->stats().malformed}}
                            : json{{"on", false}}},
           {"table", {{"crowded", s.table_crowded}, {"moves_checked", s.moves_checked}}},
           {"rendezvous", {{"presence_records", rt.host().peek().presence_records()},
                           {"presence_stored", s.presence_stored},
                           {"forwarded", s.forwarded},
                           {"forward_refused", s.forward_refused},
                           {"nat_checks_served", s.nat_checks_served},
                           {"dialbacks", s.dialbacks},
                           {"rate_limited", s.rate_limited}}},
           {"network_changes", s.network_changes},
           {"contacts", rt.node().table().size()}},
          {}});
}

json peer_json(const session::SessionTable::PeerInfo& p) {
    return {{"id", base::to_hex(p.peer)},
            {"address", crypto::encode_address(p.peer)},
            {"remote", p.link.remote.to_string()},
            {"path", session::path_name(p.link.path)},
            {"via", p.link.via ? json(base::to_hex(*p.link.via)) : json(nullptr)},
            {"method", session::method_name(p.link.method)},
            {"initiator", p.link.outbound},
            {"age_s", base::to_ms_int(p.age) / 1000},
            {"rtt_ms", p.rtt ? json(base::to_ms(*p.rtt)) : json(nullptr)},
            {"bytes_in", p.bytes_in},
            {"bytes_out", p.bytes_out},
            {"frames_in", p.frames_in},
            {"frames_out", p.frames_out},
            {"retransmits", p.retransmits}};
}

void cmd_peers(Runtime& rt, const Command&, CommandDone done) {
    json peers = json::array();
    for (auto& p : rt.sessions().peers()) peers.push_back(peer_json(p));
    auto& s = rt.sessions().stats();
    auto& c = rt.sessions().connector_stats();
    json closed = json::object();
    for (auto& [why, n] : s.closed_by_reason) closed[why] = n;
    done({true,
          {{"peers", peers},
           {"payloads", {{"received", rt.payload_counts().received}, {"malformed", rt.payload_counts().malformed},
                         {"unknown_type", rt.payload_counts().unknown_type},
                         {"pings_answered", rt.payload_counts().pings_answered}}},
           {"stats", {{"inbound", s.inbound}, {"outbound", s.outbound}, {"established", s.established},
                      {"connect_failures", rt.sessions().connect_failures()}, {"refused", s.refused},
                      {"duplicates_closed", s.duplicates_closed}, {"upgrades", s.upgrades},
                      {"attempts", c.attempts}, {"attempts_failed", c.failed}, {"reconnects", c.redials},
                      {"relayed", c.relayed}, {"relay_failed", c.relay_failed}, {"upgrades_tried", c.upgrades_tried},
                      {"relay_closes", rt.sessions().relay_closes()},
                      {"birthday", {{"attempts", c.birthdays}, {"won", c.birthday_won},
                                    {"packets", c.birthday_packets}, {"sockets_opened", c.birthday_sockets},
                                    {"sockets_open", rt.sessions().extra_sockets()}}},
                      {"closed_by_reason", closed}}}},
          {}});
}

std::optional<base::Endpoint> via_of(const Command& c, std::string& error) {
    auto via = c.args.find("--via");
    if (via == c.args.end()) return std::nullopt;
    auto eps = net::resolve(via->second);
    if (!eps) {
        error = "--via " + via->second + ": " + eps.status().detail();
        return std::nullopt;
    }
    return eps->front();
}

json report_json(const session::ConnectReport& r) {
    json tried = json::array();
    for (auto& t : r.tried)
        tried.push_back({{"to", t.to.to_string()},
                         {"path", session::path_name(t.path)},
                         {"method", session::method_name(t.method)},
                         {"at_ms", base::to_ms(t.at)},
                         {"took_ms", base::to_ms(t.took)},
                         {"outcome", t.outcome}});
    auto cands = [](const std::vector<session::Candidate>& v) {
        json a = json::array();
        for (auto& c : v) a.push_back({{"kind", session::candidate_kind_name(c.kind)}, {"endpoint", c.endpoint.to_string()}});
        return a;
    };
    return {{"lookup_ms", base::to_ms(r.lookup)}, {"rendezvous_ms", base::to_ms(r.rendezvous)},
            {"total_ms", base::to_ms(r.total)}, {"tried", tried}, {"ours", cands(r.ours)},
            {"theirs", cands(r.theirs)}, {"probes", r.probes}};
}

// Opens a session: the connector looks the peer up in the DHT (unless --via names the address)
// and tries the paths it finds; reports what it tried and which one won.
void cmd_connect(Runtime& rt, const Command& c, CommandDone done) {
    auto peer = crypto::parse_peer(c.args.at("<peer>"));
    if (!peer) return done({false, {}, "peer: " + peer.status().detail()});
    if (*peer == rt.host().identity().public_key) return done({false, {}, "that is this node's own address"});
    std::string error;
    auto via = via_of(c, error);
    if (!error.empty()) return done({false, {}, error});
    rt.sessions().connect(*peer, via, [&rt, done, pk = *peer](const session::ConnectReport& r) {
        json out = report_json(r);
        if (!r.status.ok()) {
            char took[48];
            std::snprintf(took, sizeof took, " (gave up after %.1f s)", base::to_ms(r.total) / 1000.0);
            return done({false, out, r.status.detail() + took});
        }
        out["connected"] = true;
        out["handshake_ms"] = base::to_ms(r.total - r.lookup);
        for (auto& p : rt.sessions().peers())
            if (p.peer == pk) out["session"] = peer_json(p);
        // No link of its own: a session was already up (or the peer's own attempt won first);
        // the winner is then that session's path, marked so scripts can tell.
        if (r.link) {
            out["winner"] = {{"path", session::path_name(r.link->path)},
                             {"method", session::method_name(r.link->method)},
                             {"remote", r.link->remote.to_string()},
                             {"via", r.link->via ? json(base::to_hex(*r.link->via)) : json(nullptr)}};
        } else if (out.contains("session")) {
            const json& s = out["session"];
            out["winner"] = {{"path", s["path"]}, {"method", s["method"]}, {"remote", s["remote"]}, {"existing", true}};
        }
        done({true, out, {}});
    });
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Application-level pings through the session (opened first if needed): checks the whole path,
// handshake, frames and the peer's node, and measures the round trip.
void cmd_ping(Runtime& rt, const Command& c, CommandDone done) {
    auto peer = crypto::parse_peer(c.args.at("<peer>"));
    if (!peer) return done({false, {}, "peer: " + peer.status().detail()});
    if (*peer == rt.host().identity().public_key) return done({false, {}, "that is this node's own address"});
    uint64_t count = 4;
    if (auto it = c.args.find("--count"); it != c.args.end()) {
        char* end = nullptr;
        unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end || v == 0 || v > 10'000'000) return done({false, {}, "--count: 1 to 10,000,000"});
        count = v;
    }
    std::string error;
    auto via = via_of(c, error);
    if (!error.empty()) return done({false, {}, error});
    rt.sessions().connect(*peer, via, [&rt, done, pk = *peer, count](const session::ConnectReport& cr) {
        if (!cr.status.ok()) return done({false, {}, cr.status.detail()});
        rt.ping(pk, count, [done, count](base::Status st, Runtime::PingReport r) {
            json out = {{"sent", r.sent}, {"received", r.received}, {"lost", count - r.received},
                        {"duration_ms", r.duration_ms}, {"rtt_ms_p50", percentile(r.rtt_ms, 0.5)},
                        {"rtt_ms_p99", percentile(r.rtt_ms, 0.99)},
                        {"rtt_ms_max", r.rtt_ms.empty() ? 0.0 : *std::max_element(r.rtt_ms.begin(), r.rtt_ms.end())}};
            if (!st.ok()) return done({false, out, st.detail() + " (" + std::to_string(r.received) + " of " +
                                                      std::to_string(count) + " answered)"});
            done({true, out, {}});
        });
    });
}

void cmd_disconnect(Runtime& rt, const Command& c, CommandDone done) {
    auto peer = crypto::parse_peer(c.args.at("<peer>"));
    if (!peer) return done({false, {}, "peer: " + peer.status().detail()});
    bool was = rt.sessions().connected(*peer);
    rt.sessions().disconnect(*peer, "asked by the user");
    done({true, {{"disconnected", was}}, {}});
}

void cmd_stop(Runtime& rt, const Command&, CommandDone done) {
    done({true, {{"stopping", true}}, {}});
    rt.request_stop();
}

void cmd_help(Runtime&, const Command&, CommandDone done) {
    done({true, json{{"usage", std::string(kCommandUsage)}}, {}});
}

const std::map<std::string, Handler>& table() {
    static const std::map<std::string, Handler> kTable = [] {
      std::map<std::string, Handler> t = {
        {"id", cmd_id},           {"dht table", cmd_table},     {"dht lookup", cmd_lookup},
        {"dht put", cmd_put},     {"dht get", cmd_get},         {"dht storage", cmd_storage},
        {"dht stats", cmd_stats}, {"stop", cmd_stop},           {"help", cmd_help},
        {"peers", cmd_peers},     {"connect", cmd_connect},     {"disconnect", cmd_disconnect},
        {"ping", cmd_ping},       {"lookup", cmd_lookup},       {"relay", cmd_relay},
      };
      add_chat_commands(t);
      return t;
    }();
    return kTable;
}

}  // namespace

KeyArg parse_key(const std::string& text) {
    if (auto id = dht::NodeId::from_hex(text)) return {*id, false};
    return {dht::NodeId::hash_of(text), true};
}

void run_command(Runtime& rt, const Command& cmd, CommandDone done) {
    auto it = table().find(cmd.path);
    if (it == table().end()) return done({false, {}, "unknown command '" + cmd.path + "'"});
    it->second(rt, cmd, std::move(done));
}

void Runtime::execute(const std::vector<std::string>& words, CommandDone done) {
    auto cmd = parse_command(words);
    if (!cmd) {
        std::string w;
        for (auto& x : words) w += (w.empty() ? "" : " ") + x;
        return done({false, {}, "bad command '" + w + "'; try help"});
    }
    if (!host_ || !host_->started()) return done({false, {}, "node is shutting down"});
    run_command(*this, *cmd, std::move(done));
}

}  // namespace cli
