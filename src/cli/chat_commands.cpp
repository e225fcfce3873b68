// The chat commands of the control interface and the prompt. JSON shapes are a stable scripting
// interface (README "Scripting"): an entry is {"id","from","to","text","ts","status","direction"}.
#include <cstdlib>

#include "base/hex.hpp"
#include "cli/chat_host.hpp"
#include "cli/commands.hpp"
#include "crypto/address.hpp"

namespace cli {

namespace {

using json = nlohmann::json;
using chat::ContactState;

std::string hex(std::span<const uint8_t> b) { return base::to_hex(b); }

std::string arg(const Command& c, const char* k) {
    auto it = c.args.find(k);
    return it == c.args.end() ? std::string{} : it->second;
}

json contact_json(Runtime& rt, const chat::Contact& c) {
    return {{"name", c.name},
            {"id", hex(c.key)},
            {"address", crypto::encode_address(c.key)},
            {"state", chat::contact_state_name(c.state)},
            {"since_ms", c.since_ms},
            {"online", rt.sessions().connected(c.key)},
            {"unread", rt.chat().history().unread(c.key)}};
}

std::optional<uint64_t> number(const std::string& text, uint64_t max) {
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (*end || v > max || text[0] == '-') return std::nullopt;
    return v;
}

void cmd_send(Runtime& rt, const Command& c, CommandDone done) {
    auto& ch = rt.chat();
    auto to = ch.contacts().resolve(arg(c, "<contact>"));
    if (!to) return done({false, {}, "contact: " + to.status().detail()});
    std::optional<uint64_t> wait;
    if (c.args.count("--wait")) {
        wait = number(arg(c, "--wait"), 86400);
        if (!wait) return done({false, {}, "--wait: 0 to 86400 seconds"});
    }
    auto e = ch.messenger().send_text(*to, arg(c, "<text>"), ChatHost::clock());
    if (!e) return done({false, {}, e.status().detail()});
    auto reply = [&rt, done, peer = *to, id = e->id] {
        const chat::Entry* now = rt.chat().history().find(peer, id);
        done({true, {{"id", hex(id)}, {"status", now ? now->status : "sending"}}, {}});
    };
    // "ok" promises the message survives a crash or a power cut: answer once it is on disk.
    if (!wait || *wait == 0)
        return ch.after_durable([reply, done](bool durable) {
            if (durable) return reply();
            done({false, {}, "the message is written but the disk could not sync it; it stays in the outbox and is retried"});
        });
    ch.wait_delivered(e->id, *wait * 1000, [reply](bool) { reply(); });
}

void cmd_history(Runtime& rt, const Command& c, CommandDone done) {
    auto& ch = rt.chat();
    auto peer = ch.contacts().resolve(arg(c, "<contact>"),
                                      {ContactState::contact, ContactState::request, ContactState::blocked});
    if (!peer) return done({false, {}, "contact: " + peer.status().detail()});
    uint64_t limit = 0;
    if (c.args.count("--limit")) {
        auto n = number(arg(c, "--limit"), 1'000'000'000);
        if (!n) return done({false, {}, "--limit: a whole number"});
        limit = *n;
    }
    json out = json::array();
    for (auto& e : ch.history().conversation(*peer, limit)) out.push_back(entry_json(rt, e));
    (void)ch.history().mark_read(*peer);
    done({true, out, {}});
}

void cmd_inbox(Runtime& rt, const Command&, CommandDone done) {
    auto& ch = rt.chat();
    json messages = json::array(), requests = json::array();
    for (auto& [key, c] : ch.contacts().all()) {
        if (c.state == ContactState::blocked) continue;
        json unread = json::array();
        for (auto& e : ch.history().conversation(key))
            if (e.incoming && !e.read) unread.push_back(entry_json(rt, e));
        if (c.state == ContactState::request) {
            json r = contact_json(rt, c);
            r["messages"] = unread;
            requests.push_back(r);
        } else {
            for (auto& m : unread) messages.push_back(m);
        }
    }
    json problems = json::array();
    for (auto& p : ch.problems()) problems.push_back(p);
    done({true, {{"messages", messages}, {"requests", requests}, {"problems", problems},
                 {"outbox", ch.messenger().pending()}}, {}});
}

void cmd_contacts(Runtime& rt, const Command&, CommandDone done) {
    json out = json::array();
    for (auto& [key, c] : rt.chat().contacts().all()) out.push_back(contact_json(rt, c));
    done({true, out, {}});
}

void cmd_add(Runtime& rt, const Command& c, CommandDone done) {
    auto pk = crypto::parse_peer(arg(c, "<address>"));
    if (!pk) return done({false, {}, "address: " + pk.status().detail()});
    if (*pk == rt.host().identity().public_key) return done({false, {}, "that is this node's own address"});
    auto st = rt.chat().contacts().add(*pk, arg(c, "--name"), ChatHost::clock().wall_ms);
    if (!st.ok()) return done({false, {}, st.detail()});
    done({true, contact_json(rt, *rt.chat().contacts().find(*pk)), {}});
}

void cmd_remove(Runtime& rt, const Command& c, CommandDone done) {
    auto& contacts = rt.chat().contacts();
    auto pk = contacts.resolve(arg(c, "<contact>"), {ContactState::contact, ContactState::request, ContactState::blocked});
    if (!pk) return done({false, {}, "contact: " + pk.status().detail()});
    json was = contact_json(rt, *contacts.find(*pk));
    auto st = contacts.remove(*pk, ChatHost::clock().wall_ms);
    if (!st.ok()) return done({false, {}, st.detail()});
    done({true, {{"removed", was}}, {}});
}

void cmd_accept(Runtime& rt, const Command& c, CommandDone done) {
    auto& contacts = rt.chat().contacts();
    auto pk = contacts.resolve(arg(c, "<contact>"), {ContactState::request, ContactState::blocked});
    if (!pk) return done({false, {}, "request: " + pk.status().detail()});
    std::string name = arg(c, "--name");
    if (auto st = contacts.add(*pk, name, ChatHost::clock().wall_ms); !st.ok()) return done({false, {}, st.detail()});
    done({true, contact_json(rt, *contacts.find(*pk)), {}});
}

void cmd_block(Runtime& rt, const Command& c, CommandDone done) {
    auto& contacts = rt.chat().contacts();
    std::string text = arg(c, "<contact>");
    auto pk = contacts.resolve(text, {ContactState::contact, ContactState::request, ContactState::blocked});
    if (!pk) {
        auto direct = crypto::parse_peer(text);  // blocking someone who has not written yet
        if (!direct) return done({false, {}, "contact: " + pk.status().detail()});
        pk = *direct;
    }
    if (auto st = contacts.block(*pk, ChatHost::clock().wall_ms); !st.ok()) return done({false, {}, st.detail()});
    done({true, contact_json(rt, *contacts.find(*pk)), {}});
}

}  // namespace

json entry_json(Runtime& rt, const chat::Entry& e) {
    const chat::Contact* other = rt.chat().contacts().find(e.incoming ? e.from : e.to);
    return {{"id", hex(e.id)},
            {"from", hex(e.from)},
            {"to", hex(e.to)},
            {"text", e.text},
            {"ts", e.ts_ms},
            {"status", e.status},
            {"direction", e.incoming ? "in" : "out"},
            {"contact", other ? other->name : chat::default_name(e.incoming ? e.from : e.to)}};
}

void add_chat_commands(std::map<std::string, Handler>& t) {
    t["send"] = cmd_send;
    t["history"] = cmd_history;
    t["inbox"] = cmd_inbox;
    t["contacts"] = cmd_contacts;
    t["add"] = cmd_add;
    t["remove"] = cmd_remove;
    t["accept"] = cmd_accept;
    t["block"] = cmd_block;
}

}  // namespace cli
