// The interactive prompt (and scripts piped into it): plain text goes to the selected
// conversation, slash commands go through the same command table as `kadchat ctl`, and chat
// events are printed above the line being typed.
#include <iostream>
#include <sstream>

#include "base/hex.hpp"
#include "cli/commands.hpp"
#include "cli/printable.hpp"
#include "cli/runtime.hpp"
#include "crypto/address.hpp"

namespace cli {

namespace {
const char kPromptHelp[] =
    R"(Type a message to send it to the selected conversation. Commands:
  /add ADDRESS [NAME]   add a contact          /contacts           list contacts
  /select NAME          choose a conversation  /history [N]        last N messages (default 20)
  /accept [NAME]        accept a request       /block [NAME]       block a request or contact
  /remove NAME          forget a contact       /inbox              unread messages and requests
  /peers                live sessions          /lookup ID          find a node in the DHT
  /dht table|lookup ID [--trace]|put K V|get K|storage|stats     inspect the DHT
  /connect PEER  /ping PEER  /id  /help  /quit
)";

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> w;
    std::istringstream ss(s);
    for (std::string x; ss >> x;) w.push_back(x);
    return w;
}

std::string status_mark(const std::string& status) {
    if (status == "delivered") return "delivered";
    if (status == "stored") return "stored (recipient offline; kept in the DHT)";
    if (status == "expired") return "EXPIRED, not delivered";
    return status;
}
}  // namespace

std::vector<std::string> Runtime::complete(const std::string& line, const std::string& word, size_t index) const {
    static const char* const kCommands[] = {"/add",    "/contacts", "/select", "/history", "/accept", "/block",
                                            "/remove", "/inbox",    "/peers",  "/lookup",  "/dht",    "/connect",
                                            "/ping",   "/id",       "/help",   "/quit"};
    std::vector<std::string> out;
    if (index == 0 && !word.empty() && word[0] == '/') {
        out.assign(std::begin(kCommands), std::end(kCommands));
        return out;
    }
    if (index == 1 && line.rfind("/dht ", 0) == 0) return {"table", "lookup", "put", "get", "storage", "stats"};
    // Contact names: after a command, and in a message (addressing someone, as in IRC).
    if (!chat_) return out;
    for (auto& [key, c] : chat_->contacts().all())
        if (c.state != chat::ContactState::blocked) out.push_back(c.name);
    return out;
}

std::string Runtime::name_of(const crypto::PublicKey& k) const {
    const chat::Contact* c = chat_->contacts().find(k);
    return c ? c->name : chat::default_name(k);
}

void Runtime::update_prompt() {
    if (!input_) return;
    input_->set_prompt(selected_ ? name_of(*selected_) + "> " : "> ");
}

void Runtime::on_notice(const chat::Notice& n) {
    if (!input_) return;
    std::string who = name_of(n.peer);
    // The full-screen client draws messages, requests and delivery states from the history.
    if (input_->full_screen() && n.kind != chat::Notice::Kind::problem) {
        if (n.kind == chat::Notice::Kind::message && !selected_) {
            selected_ = n.peer;
            update_prompt();
        }
        return input_->refresh();
    }
    switch (n.kind) {
        case chat::Notice::Kind::message:
            input_->print("[" + who + "] " + printable(n.entry.text, "\n    "));
            if (!selected_) {
                selected_ = n.peer;  // the first conversation to speak is the one answered
                update_prompt();
            }
            break;
        case chat::Notice::Kind::request:
            last_request_ = n.peer;
            input_->print("Contact request from " + who + " (" + crypto::encode_address(n.peer) + "): " +
                          printable(n.entry.text, "\n    ") + "\n  /accept " + who + " to talk, /block " + who + " to refuse.");
            break;
        case chat::Notice::Kind::status: {
            std::string t = printable(n.entry.text, " ");
            if (t.size() > 30) {
                size_t cut = 30;
                while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xc0) == 0x80) --cut;  // not inside a character
                t = t.substr(0, cut) + "…";
            }
            input_->print("  (to " + who + ": \"" + t + "\" " + status_mark(n.entry.status) + ")");
            break;
        }
        case chat::Notice::Kind::problem: input_->print("warning: " + n.text); break;
    }
}

void Runtime::prompt_command(std::vector<std::string> words, std::function<void(bool ok)> then) {
    if (input_) input_->pause();
    // Commands that go over the network can take seconds: say so at once.
    bool slow = !words.empty() && (words[0] == "lookup" || words[0] == "connect" || words[0] == "ping" ||
                                   (words[0] == "dht" && words.size() > 1 &&
                                    (words[1] == "lookup" || words[1] == "put" || words[1] == "get")));
    if (slow && input_ && input_->interactive()) {
        std::string what;
        for (auto& w : words) what += (what.empty() ? "" : " ") + w;
        input_->print("(" + what + ": working…)");
    }
    execute(words, [this, words, then = std::move(then)](CommandReply r) {
        if (!input_) return;
        if (!r.ok)
            input_->print("error: " + r.error);
        else
            input_->print(render_command(words, r.result));
        if (then) then(r.ok);
        input_->resume();
    });
}

void Runtime::on_prompt_line(std::string line) {
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) return;
    auto e = line.find_last_not_of(" \t\r");
    line = line.substr(b, e - b + 1);
    if (line[0] != '/') {
        if (!selected_) return input_->print("No conversation selected: /select NAME, or /add ADDRESS NAME to start one.");
        auto sent = chat_->messenger().send_text(*selected_, line, ChatHost::clock());
        if (!sent) return input_->print("error: " + sent.status().detail());
        return input_->refresh();
    }
    auto w = split(line.substr(1));
    if (w.empty()) return;
    const std::string cmd = w[0];
    if (cmd == "quit" || cmd == "exit") return request_stop();
    if (cmd == "help") return input_->print(kPromptHelp);
    if (cmd == "select") {
        if (w.size() != 2) return input_->print("usage: /select NAME");
        auto k = chat_->contacts().resolve(w[1], {chat::ContactState::contact, chat::ContactState::request});
        if (!k) return input_->print("error: " + k.status().detail());
        selected_ = *k;
        update_prompt();
        if (input_->full_screen()) return;  // it shows the conversation itself
        return prompt_command({"history", w[1], "--limit=20"});
    }
    if (cmd == "add") {
        if (w.size() < 2 || w.size() > 3) return input_->print("usage: /add ADDRESS [NAME]");
        std::vector<std::string> words = {"add", w[1]};
        if (w.size() == 3) words.push_back("--name=" + w[2]);
        return prompt_command(words, [this, who = w[1]](bool ok) { select_after("add", ok, who); });
    }
    if (cmd == "history") {
        if (!selected_) return input_->print("No conversation selected: /select NAME.");
        std::string n = w.size() > 1 ? w[1] : "20";
        return prompt_command({"history", base::to_hex(std::span<const uint8_t>{*selected_}), "--limit=" + n});
    }
    if (cmd == "accept" || cmd == "block") {
        std::string who;
        if (w.size() > 1)
            who = w[1];
        else if (cmd == "accept" && last_request_)
            who = base::to_hex(std::span<const uint8_t>{*last_request_});
        else if (cmd == "block" && (last_request_ || selected_))
            who = base::to_hex(std::span<const uint8_t>{last_request_ ? *last_request_ : *selected_});
        else
            return input_->print("usage: /" + cmd + " NAME");
        if (cmd == "block") return prompt_command({cmd, who});
        return prompt_command({cmd, who}, [this, who](bool ok) { select_after("accept", ok, who); });
    }
    prompt_command(w);
}

void Runtime::select_after(const std::string& cmd, bool ok, const std::string& who) {
    if (!ok || !chat_) return;
    // Before, a message typed right after /add said "No conversation selected", and the user had
    // done just what that hint asked.
    auto k = cmd == "add" ? crypto::parse_peer(who) : chat_->contacts().resolve(who, {chat::ContactState::contact});
    if (!k || !chat_->contacts().find(*k)) return;
    selected_ = *k;
    update_prompt();
    if (!input_->full_screen()) input_->print("Now writing to " + name_of(*k) + " (/select NAME to change).");
}

// A script's input ended: leave once every message is delivered, or stored in the DHT while its
// recipient cannot be reached (not while a connection to it is still being tried), or after
// 30 s, so that `echo hi | kadchat` delivers what it was given.
void Runtime::finish_script(int waited_s) {
    auto& m = chat_->messenger();
    if ((m.sending() == 0 && m.on_the_way() == 0) || waited_s >= 30) {
        if (m.sending() > 0)
            std::cerr << "kadchat: " << m.sending()
                      << " message(s) not yet delivered; they stay in the outbox for the next start\n";
        return request_stop();
    }
    if (!script_timer_) {
        auto t = net::Timer::make(loop_, [this] { finish_script(++script_waited_s_); });
        if (!t) return request_stop();
        script_timer_ = std::move(*t);
    }
    script_timer_->start(1000);
}

}  // namespace cli
