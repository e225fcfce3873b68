#pragma once
// The interactive prompt's input. On a terminal: raw mode and a small line editor, so that a
// message arriving while the user types is printed above the prompt and the half-typed line is
// drawn again below it, intact. From a pipe or a file: plain lines (read on libuv's thread pool,
// which also works for regular files), for scripted use.
#include <functional>
#include <memory>
#include <string>

#include "cli/line_editor.hpp"
#include "net/uv_handle.hpp"

namespace cli {

class Input {
public:
    using OnLine = std::function<void(std::string)>;
    using OnEof = std::function<void()>;
    // A terminal if stdin is one, else a line reader. `interactive()` tells which.
    static std::unique_ptr<Input> open_stdin(net::Loop& loop, OnLine on_line, OnEof on_eof, InputSetup setup);
    virtual ~Input() = default;
    virtual bool interactive() const = 0;
    // Terminal: the text before the cursor ("alice> "). Ignored for pipes.
    virtual void set_prompt(const std::string& prompt) = 0;
    // Prints `text` (which may span lines) so that it does not mangle the line being typed.
    virtual void print(const std::string& text) = 0;
    // Stop delivering lines (a script waits for a command to finish), and resume.
    virtual void pause() = 0;
    virtual void resume() = 0;
    // The full-screen client draws chat state itself: messages, requests and delivery states are
    // not printed as lines, and refresh() redraws them from the runtime's state.
    virtual bool full_screen() const { return false; }
    virtual void refresh() {}
};

}  // namespace cli
