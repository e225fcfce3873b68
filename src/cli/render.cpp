// Human-readable output: aligned tables built from the same JSON that --json prints.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/printable.hpp"

namespace cli {

namespace {

using json = nlohmann::json;

class Table {
public:
    explicit Table(std::vector<std::string> head) { rows_.push_back(std::move(head)); }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::string str() const {
        std::vector<size_t> w;
        for (auto& r : rows_)
            for (size_t i = 0; i < r.size(); ++i) {
                if (w.size() <= i) w.push_back(0);
                w[i] = std::max(w[i], r[i].size());
            }
        std::ostringstream os;
        for (auto& r : rows_) {
            for (size_t i = 0; i < r.size(); ++i) {
                os << r[i];
                if (i + 1 < r.size()) os << std::string(w[i] - r[i].size() + 2, ' ');
            }
            os << "\n";
        }
        return os.str();
    }

private:
    std::vector<std::vector<std::string>> rows_;
};

std::string s(const json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_number_float()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", j.get<double>());
        return buf;
    }
    return j.dump();
}

std::string kv(const std::vector<std::pair<std::string, std::string>>& rows) {
    std::ostringstream os;
    size_t w = 0;
    for (auto& [k, v] : rows) w = std::max(w, k.size());
    for (auto& [k, v] : rows) {
        std::string line = k + std::string(w - k.size() + 2, ' ') + v;
        while (!line.empty() && line.back() == ' ') line.pop_back();  // no trailing blanks
        os << line << "\n";
    }
    return os.str();
}

std::string render_lookup(const json& r, bool trace) {
    std::string out = kv({{"target", s(r["target"])},
                          {"found", r["found"].get<bool>() ? "yes" : "no"},
                          {"hops", s(r["hops"])},
                          {"messages", s(r["messages"])},
                          {"duration", s(r["duration_ms"]) + " ms"}});
    Table c({"#", "ID", "ENDPOINT"});
    int i = 0;
    for (auto& n : r["closest"]) c.add({std::to_string(++i), s(n["id"]).substr(0, 16), s(n["endpoint"])});
    out += "\nclosest:\n" + c.str();
    if (trace) {
        Table t({"HOP", "ID", "ENDPOINT", "SENT", "RTT", "OUTCOME", "RETURNED", "CLOSER"});
        for (auto& e : r["trace"])
            t.add({s(e["hop"]), s(e["id"]).substr(0, 16), s(e["endpoint"]), s(e["sent_at_ms"]) + " ms",
                   s(e["rtt_ms"]) + " ms", s(e["outcome"]), s(e["returned"]), s(e["closer"])});
        out += "\ntrace:\n" + t.str();
    }
    return out;
}

std::string render_raw(const std::vector<std::string>& words, const json& r);

}  // namespace

// Every table may hold text from the network (messages, DHT values, a stranger's request): what
// reaches the terminal is printable, whatever a peer sent.
std::string render_command(const std::vector<std::string>& words, const json& r) {
    return printable(render_raw(words, r));
}

namespace {

std::string render_raw(const std::vector<std::string>& words, const json& r) {
    std::string path = words.empty() ? "" : words[0];
    if (path == "dht" && words.size() > 1) path += " " + words[1];
    bool trace = std::find(words.begin(), words.end(), "--trace") != words.end();
    if (path == "id") {
        std::string listen, shareable, observed, tcp;
        auto add = [](std::string& to, const std::string& item) { to += (to.empty() ? "" : ", ") + item; };
        for (auto& l : r["listen"]) add(listen, s(l));
        for (auto& l : r["shareable"]) add(shareable, s(l));
        for (auto& o : r["observed"]) add(observed, s(o["endpoint"]) + " (" + s(o["reports"]) + " reports)");
        for (auto& l : r["tcp"]) add(tcp, s(l));
        std::string mapping = "-";
        if (auto& pm = r["port_mapping"]; pm.is_object()) {
            std::string st = s(pm["state"]);
            if (st == "mapped")
                mapping = s(pm["external"]) + (pm["tcp"].get<bool>() ? " (UDP+TCP)" : " (UDP)") + " by " + s(pm["protocol"]) +
                          (pm["expires_in_s"].is_null() ? "" : ", renewed before " + s(pm["expires_in_s"]) + " s");
            else if (st == "off")
                mapping = "off";
            else
                mapping = st + (pm.contains("error") ? " (" + s(pm["error"]) + ")" : "");
        }
        // "shareable": this node's own addresses, for others to give as --bootstrap.
        return kv({{"address", s(r["address"]) + "  (give this to friends)"}, {"id", s(r["id"])},
                   {"public key", s(r["public_key"])}, {"listen", listen}, {"sessions on tcp", tcp},
                   {"others join with", shareable.empty() ? "-" : "kadchat --bootstrap ADDR, ADDR one of: " + shareable},
                   {"seen by others as", observed.empty() ? "-" : observed},
                   {"router forwards", mapping},
                   {"state", s(r["state"])}, {"contacts", s(r["contacts"])}, {"data dir", s(r["data_dir"])},
                   {"uptime", s(r["uptime_s"]) + " s"}});
    }
    if (path == "dht table") {
        Table t({"BUCKET", "ID", "ENDPOINT", "LAST SEEN", "RTT", "FAILURES"});
        for (auto& b : r["buckets"])
            for (auto& c : b["contacts"])
                t.add({s(b["index"]), s(c["id"]).substr(0, 16), s(c["endpoint"]),
                       std::to_string(c["last_seen_ms"].get<int64_t>() / 1000) + " s ago", s(c["rtt_ms"]) + " ms",
                       s(c["failures"])});
        return t.str() + s(r["size"]) + " contacts in " + std::to_string(r["buckets"].size()) + " buckets (k = " +
               s(r["k"]) + ")\n";
    }
    if (path == "dht lookup") return render_lookup(r, trace);
    if (path == "dht put") {
        std::string out = kv({{"key", s(r["key"]) + (r["key_source"] == "hex" ? "" : "  (BLAKE2b-256 of \"" + s(r["key_text"]) + "\")")},
                              {"stored on", s(r["stored"]) + " node(s): " + std::to_string(r["stored"].get<int>() - (r["stored_here"].get<bool>() ? 1 : 0)) + " of " + s(r["attempted"]) + " asked" + (r["stored_here"].get<bool>() ? ", plus this node (among the closest)" : "")},
                              {"ttl", s(r["ttl_s"]) + " s"}});
        for (auto& e : r["errors"]) out += "  refused: " + s(e) + "\n";
        return out;
    }
    if (path == "dht get") {
        std::string out = kv({{"key", s(r["key"]) + (r["key_source"] == "hex" ? "" : "  (BLAKE2b-256 of \"" + s(r["key_text"]) + "\")")},
                              {"found", r["found"].get<bool>() ? "yes" : "no"}, {"hops", s(r["hops"])},
                              {"duration", s(r["duration_ms"]) + " ms"}});
        Table t({"VALUE", "PUBLISHER", "TTL"});
        for (auto& v : r["values"]) t.add({printable(s(v["value"]), " "), s(v["publisher"]).substr(0, 16), s(v["ttl_s"]) + " s"});
        return out + (r["values"].empty() ? "" : t.str());
    }
    if (path == "dht storage") {
        Table t({"KEY", "PUBLISHER", "BYTES", "EXPIRES", "VALUE"});
        for (auto& v : r["values"]) {
            std::string val = s(v["value"]);
            if (val.size() > 40) val = val.substr(0, 37) + "...";
            t.add({s(v["key"]).substr(0, 16), s(v["publisher"]).substr(0, 16), s(v["bytes"]),
                   "in " + s(v["expires_in_s"]) + " s", val});
        }
        return t.str() + s(r["count"]) + " values held; " + s(r["published_by_me"]) + " published by this node\n";
    }
    if (path == "dht stats") {
        Table t({"METHOD", "Q IN", "Q OUT", "R IN", "R OUT", "ERR IN", "ERR OUT", "TIMEOUTS", "BYTES OUT(Q+R)"});
        for (auto& [name, m] : r["by_method"].items())
            t.add({name, s(m["query_in"]["packets"]), s(m["query_out"]["packets"]), s(m["reply_in"]["packets"]),
                   s(m["reply_out"]["packets"]), s(m["error_in"]["packets"]), s(m["error_out"]["packets"]),
                   s(m["timeouts"]),
                   std::to_string(m["query_out"]["bytes"].get<uint64_t>() + m["reply_out"]["bytes"].get<uint64_t>())});
        std::string dropped;
        for (auto& [name, n] : r["dropped"].items())
            if (n.get<uint64_t>() > 0) dropped += name + "=" + s(n) + " ";
        return t.str() + "\n" +
               kv({{"uptime", s(r["uptime_s"]) + " s"},
                   {"in", s(r["in"]["packets"]) + " packets, " + s(r["in"]["bytes"]) + " bytes"},
                   {"out", s(r["out"]["packets"]) + " packets, " + s(r["out"]["bytes"]) + " bytes"},
                   {"lookups", s(r["lookups"]["started"]) + " started, " + s(r["lookups"]["found"]) + " found, " +
                                   s(r["lookups"]["not_found"]) + " not found, " + s(r["lookups"]["active"]) + " active"},
                   {"short timeouts", s(r["short_timeouts"])},
                   {"dropped", s(r["dropped_total"]) + (dropped.empty() ? "" : "  (" + dropped + ")")},
                   {"contacts", s(r["contacts"])}});
    }
    if (path == "peers") {
        Table t({"PEER", "REMOTE", "PATH", "DIALED BY", "AGE", "RTT", "BYTES IN", "BYTES OUT"});
        for (auto& p : r["peers"])
            t.add({s(p["id"]).substr(0, 16), s(p["remote"]),
                   p["via"].is_null() ? s(p["path"]) : "relay " + s(p["via"]).substr(0, 8), p["initiator"].get<bool>() ? "us" : "them",
                   s(p["age_s"]) + " s", p["rtt_ms"].is_null() ? "-" : s(p["rtt_ms"]) + " ms", s(p["bytes_in"]),
                   s(p["bytes_out"])});
        return t.str() + std::to_string(r["peers"].size()) + " live session(s)\n";
    }
    if (path == "connect") {
        auto& p = r["session"];
        return kv({{"connected to", p.is_null() ? "?" : s(p["id"]).substr(0, 16)},
                   {"remote", p.is_null() ? "?" : s(p["remote"]) + " (" + s(p["path"]) + ")"},
                   {"lookup", s(r["lookup_ms"]) + " ms"},
                   {"handshake", s(r["handshake_ms"]) + " ms"}});
    }
    if (path == "ping") {
        return kv({{"pings", s(r["sent"]) + " sent, " + s(r["received"]) + " answered, " + s(r["lost"]) + " lost"},
                   {"round trip", "p50 " + s(r["rtt_ms_p50"]) + " ms, p99 " + s(r["rtt_ms_p99"]) + " ms, max " +
                                      s(r["rtt_ms_max"]) + " ms"},
                   {"took", s(r["duration_ms"]) + " ms"}});
    }
    if (path == "relay") {
        auto& l = r["limits"];
        std::string head = std::string(r["relaying"].get<bool>() ? "relaying" : "not relaying") + "; limits: " +
                           s(l["circuits"]) + " circuits, " + s(l["rate_bytes_per_s"]) + " B/s and " +
                           s(l["bytes_per_circuit"]) + " bytes per circuit, " + s(l["lifetime_s"]) + " s\n";
        Table t({"ASKER", "TARGET", "AGE", "BYTES", "DATAGRAMS", "OVER RATE"});
        for (auto& c : r["circuits"])
            t.add({s(c["asker"]).substr(0, 16), s(c["target"]).substr(0, 16), s(c["age_s"]) + " s", s(c["bytes"]),
                   s(c["datagrams"]), s(c["dropped_over_rate"])});
        return head + t.str() + std::to_string(r["circuits"].size()) + " circuit(s)\n";
    }
    if (path == "disconnect") return r["disconnected"].get<bool>() ? "disconnected\n" : "there was no session\n";
    if (path == "stop") return "stopping\n";
    if (path == "help") return s(r["usage"]);
    if (path == "lookup") return render_lookup(r, false);
    if (path == "send") return "message " + s(r["id"]).substr(0, 8) + ": " + s(r["status"]) + "\n";
    if (path == "contacts" || path == "add" || path == "accept" || path == "block") {
        json list = r.is_array() ? r : json::array({r});
        Table t({"NAME", "STATE", "ONLINE", "UNREAD", "ADDRESS"});
        for (auto& c : list)
            t.add({s(c["name"]), s(c["state"]), c["online"].get<bool>() ? "yes" : "no", s(c["unread"]), s(c["address"])});
        return t.str();
    }
    if (path == "remove") return "removed " + s(r["removed"]["name"]) + "\n";
    if (path == "history" || path == "inbox") {
        auto line = [](const json& e) {
            std::string who = e["direction"] == "in" ? s(e["contact"]) : "me";
            std::string mark = e["direction"] == "out" ? "  (" + s(e["status"]) + ")" : "";
            return "[" + who + "] " + printable(s(e["text"]), "\n    ") + mark + "\n";
        };
        std::string out;
        if (path == "history") {
            for (auto& e : r) out += line(e);
            return out.empty() ? "(no messages)\n" : out;
        }
        for (auto& e : r["messages"]) out += line(e);
        for (auto& q : r["requests"]) {
            out += "request from " + s(q["name"]) + " (" + s(q["address"]) + "):\n";
            for (auto& e : q["messages"]) out += "  " + line(e);
        }
        for (auto& p : r["problems"]) out += "warning: " + s(p) + "\n";
        return out.empty() ? "nothing unread\n" : out;
    }
    return r.dump(2) + "\n";
}

}  // namespace

}  // namespace cli
