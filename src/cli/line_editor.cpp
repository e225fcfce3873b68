#include "cli/line_editor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>

namespace cli {

namespace {

bool is_cont(unsigned char c) { return (c & 0xc0) == 0x80; }

// Bytes of a UTF-8 character that starts with `c` (1 for anything malformed).
size_t utf8_len(unsigned char c) {
    if (c >= 0xf0 && c < 0xf8) return 4;
    if (c >= 0xe0) return c < 0xf0 ? 3 : 1;
    if (c >= 0xc0) return 2;
    return 1;
}

KeyEvent key(Key k) { return KeyEvent{k, {}, 0}; }

KeyEvent control(unsigned char c) {
    switch (c) {
        case 0x01: return key(Key::home);
        case 0x02: return key(Key::left);
        case 0x04: return key(Key::eof);
        case 0x05: return key(Key::end);
        case 0x06: return key(Key::right);
        case 0x08:
        case 0x7f: return key(Key::backspace);
        case 0x09: return key(Key::tab);
        case 0x0a:
        case 0x0d: return key(Key::enter);
        case 0x0b: return key(Key::kill_end);
        case 0x0c: return key(Key::redraw);
        case 0x0e: return key(Key::down);
        case 0x10: return key(Key::up);
        case 0x15: return key(Key::kill_start);
        case 0x17: return key(Key::kill_word);
        default: return key(Key::other);
    }
}

// A CSI sequence's final byte and parameters ("1;5", "3") to a key.
KeyEvent csi(char final, const std::string& params) {
    bool ctrl = params.size() >= 3 && params.compare(params.size() - 2, 2, ";5") == 0;
    switch (final) {
        case 'A': return key(Key::up);
        case 'B': return key(Key::down);
        case 'C': return key(ctrl ? Key::word_right : Key::right);
        case 'D': return key(ctrl ? Key::word_left : Key::left);
        case 'H': return key(Key::home);
        case 'F': return key(Key::end);
        case '~': {
            std::string n = params.substr(0, params.find(';'));
            if (n == "1" || n == "7") return key(Key::home);
            if (n == "4" || n == "8") return key(Key::end);
            if (n == "3") return key(Key::del);
            if (n == "5") return key(Key::page_up);
            if (n == "6") return key(Key::page_down);
            return key(Key::other);
        }
        default: return key(Key::other);
    }
}

}  // namespace

std::vector<KeyEvent> KeyDecoder::feed(std::string_view bytes) {
    std::string in = pending_ + std::string(bytes);
    pending_.clear();
    std::vector<KeyEvent> out;
    size_t i = 0;
    while (i < in.size()) {
        auto c = static_cast<unsigned char>(in[i]);
        if (c == 0x1b) {
            if (i + 1 >= in.size()) {  // a lone ESC: the rest of its sequence may be in the next read
                pending_ = in.substr(i);
                break;
            }
            auto n = static_cast<unsigned char>(in[i + 1]);
            if (n == '[' || n == 'O') {
                size_t j = i + 2;
                while (j < in.size() && static_cast<unsigned char>(in[j]) >= 0x20 &&
                       static_cast<unsigned char>(in[j]) < 0x40)
                    ++j;
                if (j >= in.size()) {
                    pending_ = in.substr(i);
                    break;
                }
                char final = in[j];
                out.push_back(csi(final, in.substr(i + 2, j - i - 2)));
                i = j + 1;
                continue;
            }
            if (n >= '1' && n <= '9') out.push_back(KeyEvent{Key::alt_digit, {}, n - '0'});
            else if (n == 'b') out.push_back(key(Key::word_left));
            else if (n == 'f') out.push_back(key(Key::word_right));
            else if (n == 0x7f || n == 0x08) out.push_back(key(Key::kill_word));
            else out.push_back(key(Key::other));
            i += 2;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            out.push_back(control(c));
            ++i;
            continue;
        }
        // A run of printable text; an incomplete UTF-8 character at the end waits for the rest.
        size_t j = i;
        while (j < in.size() && static_cast<unsigned char>(in[j]) >= 0x20 && static_cast<unsigned char>(in[j]) != 0x7f) {
            size_t len = utf8_len(static_cast<unsigned char>(in[j]));
            if (j + len > in.size()) break;
            j += len;
        }
        if (j == i) {  // only the start of a character
            pending_ = in.substr(i);
            break;
        }
        out.push_back(KeyEvent{Key::text, in.substr(i, j - i), 0});
        i = j;
    }
    if (pending_.size() > 16) pending_.clear();  // never a sequence: drop it
    return out;
}

bool InputHistory::open(const std::string& path) {
    path_.clear();
    lines_.clear();
    std::vector<std::string> all;
    {
        std::ifstream f(path);
        if (f)
            for (std::string l; std::getline(f, l);)
                if (!l.empty()) all.push_back(l);
    }
    if (all.size() > cap_) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(cap_));
    lines_ = all;
    // Rewrite it whole (it is small): this trims it to `cap` lines and drops a torn last line.
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::string body;
    for (auto& l : lines_) body += l + "\n";
    bool ok = ::write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return false;
    }
    path_ = path;
    return true;
}

void InputHistory::add(const std::string& line) {
    // A line typed with a leading space is not kept (as in bash's ignorespace), nor a repeat.
    if (line.empty() || line[0] == ' ' || line.size() > LineEditor::kMaxBytes) return;
    if (!lines_.empty() && lines_.back() == line) return;
    lines_.push_back(line);
    if (lines_.size() > cap_) lines_.erase(lines_.begin());
    if (path_.empty()) return;
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;  // the history is a convenience: a full disk must not stop the chat
    std::string l = line + "\n";
    (void)!::write(fd, l.data(), l.size());
    ::close(fd);
}

size_t LineEditor::prev_char(size_t at) const {
    if (at == 0) return 0;
    --at;
    while (at > 0 && is_cont(static_cast<unsigned char>(text_[at]))) --at;
    return at;
}

size_t LineEditor::next_char(size_t at) const {
    if (at >= text_.size()) return text_.size();
    ++at;
    while (at < text_.size() && is_cont(static_cast<unsigned char>(text_[at]))) ++at;
    return at;
}

size_t LineEditor::word_start(size_t at) const {
    while (at > 0 && text_[at - 1] == ' ') --at;
    while (at > 0 && text_[at - 1] != ' ') --at;
    return at;
}

size_t LineEditor::word_end(size_t at) const {
    while (at < text_.size() && text_[at] == ' ') ++at;
    while (at < text_.size() && text_[at] != ' ') ++at;
    return at;
}

size_t utf8_chars(std::string_view s) {
    size_t n = 0;
    for (char c : s)
        if (!is_cont(static_cast<unsigned char>(c))) ++n;
    return n;
}

size_t LineEditor::cursor_column() const { return utf8_chars(std::string_view(text_).substr(0, cursor_)); }

std::string LineEditor::listed_line() const {
    std::string all;
    for (auto& c : listed_) all += (all.empty() ? "" : "  ") + c;
    return all;
}

InputLine::InputLine(InputSetup setup) {
    if (!setup.history_path.empty() && !history.open(setup.history_path))
        problem = "input history " + setup.history_path + " cannot be written; not kept";
    editor.set_completer(std::move(setup.completer));
}

void LineEditor::insert(std::string_view s) {
    std::string clean;
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) clean += c;
    if (text_.size() + clean.size() > kMaxBytes) return;
    text_.insert(cursor_, clean);
    cursor_ += clean.size();
}

void LineEditor::clear() {
    text_.clear();
    cursor_ = 0;
    browsing_ = false;
    listed_.clear();
}

std::string LineEditor::take_line() { return std::move(submitted_); }

LineEditor::Result LineEditor::walk_history(int step) {
    if (!history_) return Result::unchanged;
    const auto& h = history_->lines();
    if (!browsing_) {
        draft_ = text_;
        hist_pos_ = h.size();
        browsing_ = true;
    }
    if (step < 0 && hist_pos_ == 0) return Result::unchanged;
    if (step > 0 && hist_pos_ >= h.size()) return Result::unchanged;
    hist_pos_ = step < 0 ? hist_pos_ - 1 : hist_pos_ + 1;
    text_ = hist_pos_ < h.size() ? h[hist_pos_] : draft_;
    cursor_ = text_.size();
    return Result::edited;
}

LineEditor::Result LineEditor::complete() {
    if (!completer_) return Result::unchanged;
    size_t ws = cursor_;
    while (ws > 0 && text_[ws - 1] != ' ') --ws;
    std::string word = text_.substr(ws, cursor_ - ws);
    size_t index = 0;
    for (size_t i = 0; i < ws;) {  // words before this one
        while (i < ws && text_[i] == ' ') ++i;
        if (i >= ws) break;
        ++index;
        while (i < ws && text_[i] != ' ') ++i;
    }
    std::vector<std::string> c;
    for (auto& s : completer_(text_, word, index))
        if (s.size() >= word.size() && s.compare(0, word.size(), word) == 0) c.push_back(s);
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    if (c.empty()) return Result::unchanged;
    std::string fill;
    if (c.size() == 1) {
        fill = c[0].substr(word.size()) + " ";
    } else {
        size_t common = c[0].size();
        for (auto& s : c) {
            size_t k = 0;
            while (k < common && k < s.size() && s[k] == c[0][k]) ++k;
            common = k;
        }
        fill = c[0].substr(word.size(), common - word.size());
        while (!fill.empty() && is_cont(static_cast<unsigned char>(fill.back()))) fill.pop_back();
        if (fill.empty()) {
            listed_ = c;
            return Result::listed;
        }
    }
    if (cursor_ < text_.size() && text_[cursor_] == ' ' && fill.back() == ' ') fill.pop_back();
    insert(fill);
    return Result::edited;
}

LineEditor::Result LineEditor::handle(const KeyEvent& k) {
    if (k.key != Key::up && k.key != Key::down) browsing_ = false;
    size_t before = cursor_;
    std::string was = text_;
    switch (k.key) {
        case Key::text: insert(k.text); break;
        case Key::enter:
            submitted_ = std::move(text_);
            clear();
            if (history_) history_->add(submitted_);
            return Result::submitted;
        case Key::backspace: {
            size_t p = prev_char(cursor_);
            text_.erase(p, cursor_ - p);
            cursor_ = p;
            break;
        }
        case Key::del: text_.erase(cursor_, next_char(cursor_) - cursor_); break;
        case Key::left: cursor_ = prev_char(cursor_); break;
        case Key::right: cursor_ = next_char(cursor_); break;
        case Key::home: cursor_ = 0; break;
        case Key::end: cursor_ = text_.size(); break;
        case Key::word_left: cursor_ = word_start(cursor_); break;
        case Key::word_right: cursor_ = word_end(cursor_); break;
        case Key::kill_word: {
            size_t p = word_start(cursor_);
            text_.erase(p, cursor_ - p);
            cursor_ = p;
            break;
        }
        case Key::kill_start:
            text_.erase(0, cursor_);
            cursor_ = 0;
            break;
        case Key::kill_end: text_.erase(cursor_); break;
        case Key::up: return walk_history(-1);
        case Key::down: return walk_history(+1);
        case Key::tab: return complete();
        case Key::eof:
            if (text_.empty()) return Result::eof;
            text_.erase(cursor_, next_char(cursor_) - cursor_);  // Ctrl-D on a line: delete, as readline
            break;
        default: return Result::unchanged;
    }
    return (text_ == was && cursor_ == before) ? Result::unchanged : Result::edited;
}

}  // namespace cli
