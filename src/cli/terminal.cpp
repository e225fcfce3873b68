#include "cli/terminal.hpp"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>

namespace cli {

namespace {

// Lines from a pipe (uv_pipe) or a regular file (read whole at start: libuv cannot poll files),
// delivered one at a time so that a script's command can finish before the next line runs.
class LineInput final : public Input {
public:
    LineInput(OnLine on_line, OnEof on_eof) : on_line_{std::move(on_line)}, on_eof_{std::move(on_eof)} {}
    bool start(net::Loop& loop) {
        struct stat st{};
        if (::fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
            auto h = net::UvHandle<uv_pipe_t>::make([&](uv_pipe_t* p) { return uv_pipe_init(loop.get(), p, 0); });
            if (!h || uv_pipe_open(h->get(), STDIN_FILENO) != 0) return false;
            pipe_ = std::make_unique<net::UvHandle<uv_pipe_t>>(std::move(*h));
            pipe_->get()->data = this;
            uv_read_start(
                reinterpret_cast<uv_stream_t*>(pipe_->get()),
                [](uv_handle_t* h, size_t, uv_buf_t* out) {
                    auto* self = static_cast<LineInput*>(h->data);
                    *out = self ? uv_buf_init(self->buf_, sizeof self->buf_) : uv_buf_init(nullptr, 0);
                },
                [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                    auto* self = static_cast<LineInput*>(s->data);
                    if (!self) return;
                    if (n < 0) {
                        uv_read_stop(s);
                        self->eof_ = true;
                    } else {
                        self->add(std::string_view(b->base, static_cast<size_t>(n)));
                    }
                    self->pump();
                });
            return true;
        }
        // A regular file, /dev/null, or anything else that reads without blocking for long.
        std::stringstream all;
        all << std::cin.rdbuf();
        add(all.str());
        eof_ = true;
        auto t = net::UvHandle<uv_timer_t>::make([&](uv_timer_t* t) { return uv_timer_init(loop.get(), t); });
        if (!t) return false;
        kick_ = std::make_unique<net::UvHandle<uv_timer_t>>(std::move(*t));
        kick_->get()->data = this;
        uv_timer_start(kick_->get(), [](uv_timer_t* t) {
            if (auto* self = static_cast<LineInput*>(t->data)) self->pump();
        }, 0, 0);
        return true;
    }
    bool interactive() const override { return false; }
    void set_prompt(const std::string&) override {}
    void print(const std::string& text) override {
        std::cout << text;
        if (!text.empty() && text.back() != '\n') std::cout << "\n";
        std::cout << std::flush;
    }
    void pause() override { paused_ = true; }
    void resume() override {
        paused_ = false;
        if (kick_) uv_timer_start(kick_->get(), [](uv_timer_t* t) {
            if (auto* self = static_cast<LineInput*>(t->data)) self->pump();
        }, 0, 0);
        else
            pump();
    }

private:
    void add(std::string_view data) {
        partial_.append(data);
        size_t nl;
        while ((nl = partial_.find('\n')) != std::string::npos) {
            lines_.push_back(partial_.substr(0, nl));
            partial_.erase(0, nl + 1);
        }
    }
    void pump() {
        while (!paused_ && !lines_.empty()) {
            std::string l = std::move(lines_.front());
            lines_.pop_front();
            on_line_(std::move(l));
        }
        if (!paused_ && lines_.empty() && eof_ && !eof_sent_) {
            if (!partial_.empty()) {
                std::string l = std::move(partial_);
                partial_.clear();
                on_line_(std::move(l));
                if (paused_) return;
            }
            eof_sent_ = true;
            on_eof_();
        }
    }
    OnLine on_line_;
    OnEof on_eof_;
    std::unique_ptr<net::UvHandle<uv_pipe_t>> pipe_;
    std::unique_ptr<net::UvHandle<uv_timer_t>> kick_;
    std::deque<std::string> lines_;
    std::string partial_;
    bool paused_ = false, eof_ = false, eof_sent_ = false;
    char buf_[4096];
};

// A terminal in non-canonical mode without echo (signals still work: Ctrl-C stops the node), with
// the shared LineEditor: cursor keys, word and line deletion, history, Tab completion.
class TerminalInput final : public Input {
public:
    TerminalInput(OnLine on_line, OnEof on_eof, InputSetup setup)
        : on_line_{std::move(on_line)}, on_eof_{std::move(on_eof)}, line_{std::move(setup)} {
        if (!line_.problem.empty()) std::cerr << "kadchat: " << line_.problem << "\n";
    }
    ~TerminalInput() override {
        if (saved_) ::tcsetattr(STDIN_FILENO, TCSANOW, &old_);
        // Erase the prompt drawn after the last line (/quit, Ctrl-D): the shell's comes next.
        std::cout << "\r\033[K" << std::flush;
    }
    bool start(net::Loop& loop) {
        if (::tcgetattr(STDIN_FILENO, &old_) != 0) return false;
        termios raw = old_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) return false;
        saved_ = true;
        auto h = net::UvHandle<uv_tty_t>::make([&](uv_tty_t* t) { return uv_tty_init(loop.get(), t, STDIN_FILENO, 0); });
        if (!h) return false;
        tty_ = std::make_unique<net::UvHandle<uv_tty_t>>(std::move(*h));
        tty_->get()->data = this;
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(tty_->get()),
            [](uv_handle_t* h, size_t, uv_buf_t* out) {
                auto* self = static_cast<TerminalInput*>(h->data);
                *out = self ? uv_buf_init(self->buf_, sizeof self->buf_) : uv_buf_init(nullptr, 0);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                auto* self = static_cast<TerminalInput*>(s->data);
                if (!self) return;
                if (n < 0) {
                    uv_read_stop(s);
                    return self->on_eof_();
                }
                for (auto& k : self->line_.keys.feed(std::string_view(b->base, static_cast<size_t>(n)))) {
                    if (!self->key(k)) return;  // Ctrl-D: the input (and maybe this object) is done
                }
            });
        redraw();
        return true;
    }
    bool interactive() const override { return true; }
    void set_prompt(const std::string& p) override {
        prompt_ = p;
        redraw();
    }
    void print(const std::string& text) override {
        std::string t = text;
        if (t.empty() || t.back() != '\n') t += "\n";
        std::cout << "\r\033[K" << t;
        redraw();
    }
    void pause() override {}
    void resume() override {}

private:
    // The prompt and the line, and the cursor put back where the editor has it.
    void redraw() {
        const LineEditor& e = line_.editor;
        std::cout << "\r\033[K" << prompt_ << e.text();
        if (size_t back = utf8_chars(e.text()) - e.cursor_column()) std::cout << "\033[" << back << "D";
        std::cout << std::flush;
    }
    bool key(const KeyEvent& k) {
        if (k.key == Key::redraw) {
            std::cout << "\033[H\033[2J";
            redraw();
            return true;
        }
        switch (line_.editor.handle(k)) {
            case LineEditor::Result::submitted: {
                std::string l = line_.editor.take_line();
                std::cout << "\r\033[K" << prompt_ << l << "\n" << std::flush;
                on_line_(std::move(l));
                redraw();
                return true;
            }
            case LineEditor::Result::eof: on_eof_(); return false;
            case LineEditor::Result::listed: print(line_.editor.listed_line()); return true;
            case LineEditor::Result::edited: redraw(); return true;
            case LineEditor::Result::unchanged: return true;
        }
        return true;
    }
    OnLine on_line_;
    OnEof on_eof_;
    InputLine line_;
    std::unique_ptr<net::UvHandle<uv_tty_t>> tty_;
    termios old_{};
    bool saved_ = false;
    std::string prompt_ = "> ";
    char buf_[1024];
};

}  // namespace

std::unique_ptr<Input> Input::open_stdin(net::Loop& loop, OnLine on_line, OnEof on_eof, InputSetup setup) {
    if (::isatty(STDIN_FILENO)) {
        auto t = std::make_unique<TerminalInput>(std::move(on_line), std::move(on_eof), std::move(setup));
        if (!t->start(loop)) return nullptr;
        return t;
    }
    auto l = std::make_unique<LineInput>(std::move(on_line), std::move(on_eof));
    if (!l->start(loop)) return nullptr;
    return l;
}

}  // namespace cli
