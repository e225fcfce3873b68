#pragma once
// The full-screen terminal client (ncurses): contacts on the left with their state and unread
// count, the selected conversation with scrollback and each message's delivery state, a status
// bar, pending contact requests above the input line, and the input line (LineEditor). It is an
// Input: the runtime's prompt logic (slash commands, sending) is the same as in line mode. What
// it shows comes from the runtime as a ScreenView, pulled at each redraw, so a message's state is
// always the one in the history, updated in place.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/terminal.hpp"
#include "crypto/keys.hpp"

namespace cli {

struct ScreenView {
    struct Contact {
        crypto::PublicKey key{};
        std::string name;
        std::string state;  // "direct", "relay", "offline", "request", "blocked"
        size_t unread = 0;
    };
    struct Message {
        uint64_t ts_ms = 0;
        bool incoming = false;
        std::string who, text, status;
    };
    std::vector<Contact> contacts;
    std::optional<crypto::PublicKey> selected;
    std::vector<Message> conversation;  // the selected contact's latest messages, oldest first
    std::string status;                 // the status bar's text
    std::vector<std::string> requests;  // names with a pending contact request
};

struct ScreenHooks {
    std::function<ScreenView()> view;
    std::function<void(const crypto::PublicKey&)> select;
};

// Whether to open the full-screen client: stdin and stdout are terminals, TERM is set and not
// "dumb", and the user did not ask for --no-tui.
bool full_screen_wanted(bool no_tui);

std::unique_ptr<Input> open_full_screen(net::Loop& loop, Input::OnLine on_line, Input::OnEof on_eof, InputSetup setup,
                                        ScreenHooks hooks);

}  // namespace cli
