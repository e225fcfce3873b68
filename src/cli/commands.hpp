#pragma once
// The control commands: one table, used by `kadchat ctl` (through the control socket) and by the
// interactive prompt. Each command produces a JSON document; render_command() turns it into the
// aligned tables people read. The names are a stable scripting interface.
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/runtime.hpp"

namespace cli {

void run_command(Runtime& rt, const Command& cmd, CommandDone done);

// The chat commands (chat_commands.cpp): send, history, inbox, contacts, add, remove, accept, block.
using Handler = std::function<void(Runtime&, const Command&, CommandDone)>;
void add_chat_commands(std::map<std::string, Handler>& table);
nlohmann::json entry_json(Runtime& rt, const chat::Entry& e);
std::string render_command(const std::vector<std::string>& words, const nlohmann::json& result);
// "64 hex" stays as is; anything else is hashed with BLAKE2b-256.
struct KeyArg {
    dht::Key key;
    bool hashed;
};
KeyArg parse_key(const std::string& text);

}  // namespace cli
