#include "cli/full_screen.hpp"

#include <curses.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>

#include "cli/printable.hpp"

namespace cli {

namespace {

// The first `n` characters of `s` starting at character `from`.
std::string slice(const std::string& s, size_t from, size_t n) {
    size_t i = 0, ch = 0, begin = s.size();
    for (; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) continue;
        if (ch == from) begin = i;
        if (ch == from + n) return s.substr(begin, i - begin);
        ++ch;
    }
    return begin < s.size() ? s.substr(begin) : std::string{};
}

std::string pad(const std::string& s, size_t width) {
    size_t n = utf8_chars(s);
    if (n >= width) return slice(s, 0, width);
    return s + std::string(width - n, ' ');
}

// `text` cut into rows of `width` characters, at spaces where it can be; `indent` spaces lead
// every row after the first.
std::vector<std::string> wrap_line(const std::string& text, size_t width, size_t indent, bool first);

std::vector<std::string> wrap(const std::string& text, size_t width, size_t indent) {
    std::vector<std::string> rows;
    size_t at = 0;
    for (bool first = true;; first = false) {
        size_t nl = text.find('\n', at);
        auto part = wrap_line(text.substr(at, nl == std::string::npos ? nl : nl - at), width, indent, first);
        rows.insert(rows.end(), part.begin(), part.end());
        if (nl == std::string::npos) return rows;
        at = nl + 1;
    }
}

// One line of `wrap`; `first` is false for the lines after a newline in the text (indented too).
std::vector<std::string> wrap_line(const std::string& text, size_t width, size_t indent, bool first) {
    std::vector<std::string> rows;
    if (width <= indent + 4) width = indent + 5;
    std::string rest = text;
    while (true) {
        size_t w = first ? width : width - indent;
        std::string lead = first ? "" : std::string(indent, ' ');
        if (utf8_chars(rest) <= w) {
            rows.push_back(lead + rest);
            break;
        }
        std::string head = slice(rest, 0, w);
        size_t cut = head.rfind(' ');
        if (cut == std::string::npos || cut < head.size() / 2) cut = head.size();
        rows.push_back(lead + head.substr(0, cut));
        rest = rest.substr(cut < head.size() ? cut + 1 : cut);
        first = false;
    }
    return rows;
}

std::string clock_of(uint64_t ts_ms) {
    std::time_t t = static_cast<std::time_t>(ts_ms / 1000);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char b[8];
    std::snprintf(b, sizeof b, "%02d:%02d", tm.tm_hour, tm.tm_min);
    return b;
}

uint64_t wall_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

enum Pair : short { kGreen = 1, kYellow, kRed, kCyan, kBar };

const char kKeys[] =
    R"(Keys: Tab (on an empty line) or Alt-1..9 switch conversations; PgUp/PgDn scroll;
  Left/Right, Home/End, Ctrl-A/E move; Ctrl-W deletes a word, Ctrl-U the line before the cursor,
  Ctrl-K the rest; Up/Down walk the input history; Tab completes commands and names;
  Ctrl-L redraws; Ctrl-D on an empty line or /quit leaves.)";

class FullScreen final : public Input {
public:
    FullScreen(OnLine on_line, OnEof on_eof, InputSetup setup, ScreenHooks hooks)
        : on_line_{std::move(on_line)}, on_eof_{std::move(on_eof)}, hooks_{std::move(hooks)}, line_{std::move(setup)} {
        if (!line_.problem.empty()) lines_.push_back({wall_ms(), std::nullopt, line_.problem});
    }
    ~FullScreen() override {
        if (screen_) {
            endwin();
            delscreen(screen_);
        }
    }
    bool start(net::Loop& loop) {
        std::setlocale(LC_CTYPE, "");
        screen_ = newterm(nullptr, stdout, stdin);
        if (!screen_) return false;
        set_term(screen_);
        cbreak();  // keys as typed; Ctrl-C still stops the node
        noecho();
        nonl();
        intrflush(stdscr, FALSE);
        keypad(stdscr, FALSE);  // KeyDecoder reads the bytes: one decoder for both modes
        const char* nc = std::getenv("NO_COLOR");
        color_ = has_colors() && !(nc && *nc);
        if (color_) {
            start_color();
            use_default_colors();
            init_pair(kGreen, COLOR_GREEN, -1);
            init_pair(kYellow, COLOR_YELLOW, -1);
            init_pair(kRed, COLOR_RED, -1);
            init_pair(kCyan, COLOR_CYAN, -1);
            init_pair(kBar, COLOR_WHITE, COLOR_BLUE);
        }
        auto p = net::UvHandle<uv_poll_t>::make([&](uv_poll_t* h) { return uv_poll_init(loop.get(), h, STDIN_FILENO); });
        if (!p) return false;
        poll_ = std::make_unique<net::UvHandle<uv_poll_t>>(std::move(*p));
        poll_->get()->data = this;
        uv_poll_start(poll_->get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
            auto* self = static_cast<FullScreen*>(h->data);
            if (self) self->readable(status);
        });
        auto s = net::UvHandle<uv_signal_t>::make([&](uv_signal_t* h) { return uv_signal_init(loop.get(), h); });
        if (!s) return false;
        winch_ = std::make_unique<net::UvHandle<uv_signal_t>>(std::move(*s));
        winch_->get()->data = this;
        uv_signal_start(winch_->get(), [](uv_signal_t* h, int) {
            if (auto* self = static_cast<FullScreen*>(h->data)) self->resized();
        }, SIGWINCH);
        // The status bar and the contacts' states change without an event we hear of (a path
        // upgrade, a session closing): a redraw each second keeps them true.
        auto t = net::UvHandle<uv_timer_t>::make([&](uv_timer_t* h) { return uv_timer_init(loop.get(), h); });
        if (!t) return false;
        tick_ = std::make_unique<net::UvHandle<uv_timer_t>>(std::move(*t));
        tick_->get()->data = this;
        uv_timer_start(tick_->get(), [](uv_timer_t* h) {
            if (auto* self = static_cast<FullScreen*>(h->data)) self->draw();
        }, 1000, 1000);
        draw();
        return true;
    }

    bool interactive() const override { return true; }
    bool full_screen() const override { return true; }
    void set_prompt(const std::string& p) override {
        prompt_ = p;
        draw();
    }
    void print(const std::string& text) override {
        std::string t = text;
        while (!t.empty() && t.back() == '\n') t.pop_back();
        size_t at = 0;
        while (true) {
            size_t nl = t.find('\n', at);
            lines_.push_back({wall_ms(), view_.selected, printable(t.substr(at, nl == std::string::npos ? nl : nl - at))});
            if (nl == std::string::npos) break;
            at = nl + 1;
        }
        if (lines_.size() > 2000) lines_.erase(lines_.begin(), lines_.begin() + 500);
        draw();
    }
    void pause() override {}
    void resume() override {}
    void refresh() override { draw(); }

private:
    struct Line {  // printed output (command results, notices), kept with the conversation it was printed in
        uint64_t ts_ms;
        std::optional<crypto::PublicKey> in;
        std::string text;
    };

    void readable(int status) {
        if (status < 0) return on_eof_();
        char buf[512];
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0) return on_eof_();
        if (n < 0) return;
        for (auto& k : line_.keys.feed(std::string_view(buf, static_cast<size_t>(n))))
            if (!key(k)) return;
        draw();
    }

    void resized() {
        winsize ws{};
        if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
            resizeterm(ws.ws_row, ws.ws_col);
        clearok(stdscr, TRUE);
        draw();
    }

    // The contacts one can switch to, in the order shown.
    void switch_to(size_t index) {
        if (index >= view_.contacts.size() || !hooks_.select) return;
        scroll_ = 0;
        hooks_.select(view_.contacts[index].key);
    }

    bool key(const KeyEvent& k) {
        if (k.key == Key::page_up || k.key == Key::page_down) {
            int page = std::max(1, pane_rows_ - 1);
            scroll_ = k.key == Key::page_up ? scroll_ + page : std::max(0, scroll_ - page);
            return true;
        }
        if (k.key == Key::alt_digit) {
            switch_to(static_cast<size_t>(k.digit - 1));
            return true;
        }
        if (k.key == Key::redraw) {
            clearok(stdscr, TRUE);
            return true;
        }
        if (k.key == Key::tab && line_.editor.text().empty()) {
            if (view_.contacts.empty()) return true;
            size_t cur = view_.contacts.size() - 1;
            for (size_t i = 0; i < view_.contacts.size(); ++i)
                if (view_.selected && view_.contacts[i].key == *view_.selected) cur = i;
            switch_to((cur + 1) % view_.contacts.size());
            return true;
        }
        switch (line_.editor.handle(k)) {
            case LineEditor::Result::submitted: {
                scroll_ = 0;
                std::string l = line_.editor.take_line();
                if (l == "/help") print(kKeys);  // the keys here; the runtime prints the commands
                on_line_(std::move(l));
                return true;
            }
            case LineEditor::Result::eof: on_eof_(); return false;
            case LineEditor::Result::listed: print(line_.editor.listed_line()); return true;
            default: return true;
        }
    }

    void put(int y, int x, const std::string& s, attr_t a = A_NORMAL, short pair = 0) {
        if (y < 0 || y >= LINES || x >= COLS) return;
        attr_t on = a | (color_ && pair ? COLOR_PAIR(pair) : A_NORMAL);
        attron(on);
        mvaddstr(y, x, slice(s, 0, static_cast<size_t>(COLS - x)).c_str());
        attroff(on);
    }

    static short state_pair(const std::string& state) {
        if (state == "direct") return kGreen;
        if (state == "relay") return kYellow;
        if (state == "request") return kRed;
        return 0;
    }
    static short status_pair(const std::string& s) {
        if (s == "delivered") return kGreen;
        if (s == "expired") return kRed;
        return kYellow;
    }

    void draw() {
        if (!screen_) return;
        if (hooks_.view) view_ = hooks_.view();
        erase();
        const int rows = LINES, cols = COLS;
        if (rows < 5 || cols < 20) {
            put(0, 0, "kadchat: the terminal is too small");
            ::refresh();
            return;
        }
        const int left = std::min(26, cols / 3);
        const int req_rows = view_.requests.empty() ? 0 : 1;
        pane_rows_ = rows - 2 - req_rows;
        // Contacts.
        put(0, 0, pad(" Contacts", static_cast<size_t>(left)), A_BOLD);
        for (size_t i = 0; i < view_.contacts.size() && static_cast<int>(i) + 1 < pane_rows_; ++i) {
            const auto& c = view_.contacts[i];
            bool sel = view_.selected && *view_.selected == c.key;
            std::string num = i < 9 ? std::to_string(i + 1) : " ";
            std::string unread = c.unread ? " +" + std::to_string(c.unread) : "";
            int y = static_cast<int>(i) + 1;
            // "1>alice     direct +3": the name gets what the state (7) and the count (4) leave.
            std::string name = pad(num + (sel ? ">" : " ") + c.name, static_cast<size_t>(std::max(4, left - 12)));
            put(y, 0, name, sel ? A_REVERSE : (c.unread ? A_BOLD : A_NORMAL));
            int x = static_cast<int>(utf8_chars(name)) + 1;
            put(y, x, c.state, A_NORMAL, state_pair(c.state));
            if (!unread.empty() && x + static_cast<int>(utf8_chars(c.state)) < left)
                put(y, x + static_cast<int>(utf8_chars(c.state)),
                    slice(unread, 0, static_cast<size_t>(left - x - static_cast<int>(utf8_chars(c.state)))), A_BOLD, kCyan);
        }
        for (int y = 0; y < pane_rows_; ++y) mvaddch(y, left, ACS_VLINE);
        // The conversation, with printed output merged in by time, wrapped to the pane.
        const int px = left + 2, pw = cols - px;
        struct Row {
            std::string text;
            attr_t a;
            short pair;
        };
        std::vector<Row> all;
        auto add_rows = [&](const std::string& text, attr_t a, short pair) {
            for (auto& r : wrap(text, static_cast<size_t>(pw), 6)) all.push_back({r, a, pair});
        };
        size_t li = 0;
        auto flush_lines = [&](uint64_t until) {
            for (; li < lines_.size() && lines_[li].ts_ms <= until; ++li)
                if (lines_[li].in == view_.selected) add_rows(lines_[li].text, A_DIM, 0);
        };
        for (const auto& m : view_.conversation) {
            flush_lines(m.ts_ms);
            std::string t = clock_of(m.ts_ms) + " " + m.who + ": " + m.text;
            if (!m.incoming) t += " (" + (m.status == "sending" ? std::string("sending…") : m.status) + ")";
            size_t before = all.size();
            add_rows(t, A_NORMAL, 0);
            if (!m.incoming && all.size() > before) all.back().pair = status_pair(m.status);
            if (m.incoming && all.size() > before) all[before].pair = kCyan;
        }
        flush_lines(UINT64_MAX);
        int total = static_cast<int>(all.size());
        scroll_ = std::min(scroll_, std::max(0, total - pane_rows_));
        int first = std::max(0, total - pane_rows_ - scroll_);
        for (int y = 0; y < pane_rows_ && first + y < total - scroll_; ++y) {
            const Row& r = all[static_cast<size_t>(first + y)];
            put(y, px, r.text, r.a, r.pair);
        }
        if (scroll_ > 0) put(pane_rows_ - 1, px, pad("-- " + std::to_string(scroll_) + " more lines below (PgDn) --", static_cast<size_t>(pw)), A_REVERSE);
        if (total == 0 && view_.selected) put(0, px, "No messages yet. Type one below.", A_DIM);
        if (total == 0 && !view_.selected)
            put(0, px, view_.contacts.empty() ? "No contacts yet: /add ADDRESS NAME. /help lists the keys and commands."
                                             : "Tab or Alt-1..9 opens a conversation. /help lists the keys and commands.",
                A_DIM);
        // Requests: where they cannot be missed.
        if (req_rows) {
            std::string who, n = view_.requests.size() == 1 ? view_.requests[0] : "NAME";
            for (auto& r : view_.requests) who += (who.empty() ? "" : ", ") + r;
            put(rows - 3, 0,
                pad("Contact request from " + who + ": /accept " + n + " to talk, /block " + n + " to refuse",
                    static_cast<size_t>(cols)),
                A_BOLD, kRed);
        }
        put(rows - 2, 0, pad(view_.status, static_cast<size_t>(cols)), A_REVERSE, kBar);
        // The input line, scrolled sideways so that the cursor stays on screen.
        size_t pl = utf8_chars(prompt_), cur = line_.editor.cursor_column();
        size_t room = static_cast<size_t>(cols) > pl + 1 ? static_cast<size_t>(cols) - pl - 1 : 1;
        size_t from = cur >= room ? cur - room + 1 : 0;
        put(rows - 1, 0, prompt_, A_BOLD);
        put(rows - 1, static_cast<int>(pl), slice(line_.editor.text(), from, room));
        move(rows - 1, static_cast<int>(pl + cur - from));
        ::refresh();
    }

    OnLine on_line_;
    OnEof on_eof_;
    ScreenHooks hooks_;
    InputLine line_;
    SCREEN* screen_ = nullptr;
    bool color_ = false;
    std::unique_ptr<net::UvHandle<uv_poll_t>> poll_;
    std::unique_ptr<net::UvHandle<uv_signal_t>> winch_;
    std::unique_ptr<net::UvHandle<uv_timer_t>> tick_;
    ScreenView view_;
    std::vector<Line> lines_;
    std::string prompt_ = "> ";
    int scroll_ = 0, pane_rows_ = 1;
};

}  // namespace

bool full_screen_wanted(bool no_tui) {
    if (no_tui || !::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) return false;
    const char* term = std::getenv("TERM");
    return term && *term && std::string(term) != "dumb";
}

std::unique_ptr<Input> open_full_screen(net::Loop& loop, Input::OnLine on_line, Input::OnEof on_eof, InputSetup setup,
                                        ScreenHooks hooks) {
    auto s = std::make_unique<FullScreen>(std::move(on_line), std::move(on_eof), std::move(setup), std::move(hooks));
    if (!s->start(loop)) return nullptr;
    return s;
}

}  // namespace cli
