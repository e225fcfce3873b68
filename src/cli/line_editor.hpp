#pragma once
// The input line of both terminal modes (the line prompt and the full-screen client), sans-I/O:
// keys go in, the text, the cursor and what happened come out; the caller draws. Keys come from
// ncurses in the full-screen client and from KeyDecoder (VT100/xterm sequences) at the prompt.
// Editing is by UTF-8 character, never by byte, so a cursor never lands inside a character.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

enum class Key {
    text,        // printable text (KeyEvent::text, UTF-8)
    enter,
    backspace,
    del,
    left,
    right,
    home,        // Home, Ctrl-A
    end,         // End, Ctrl-E
    word_left,   // Alt-B, Ctrl-Left
    word_right,  // Alt-F, Ctrl-Right
    kill_word,   // Ctrl-W: the word before the cursor
    kill_start,  // Ctrl-U: everything before the cursor
    kill_end,    // Ctrl-K: everything after it
    up,          // history: older
    down,        // history: newer
    tab,
    eof,         // Ctrl-D
    page_up,
    page_down,
    alt_digit,   // Alt-1..9 (KeyEvent::digit)
    redraw,      // Ctrl-L
    other,       // anything else (ignored by the editor)
};

struct KeyEvent {
    Key key = Key::other;
    std::string text;
    int digit = 0;
};

// Characters (UTF-8 code points) in `s`: the columns we assume it takes (wide CJK glyphs and
// combining marks are not measured).
size_t utf8_chars(std::string_view s);

// Terminal bytes to keys: CSI/SS3 sequences for arrows, Home/End, Delete, PgUp/PgDn, Ctrl-arrows,
// ESC+char for Alt. A lone ESC at the end of a read is held until the next one; an unknown
// sequence becomes Key::other, never text.
class KeyDecoder {
public:
    std::vector<KeyEvent> feed(std::string_view bytes);

private:
    std::string pending_;
};

// Input history, oldest first, at most `cap` lines; loaded from and appended to a file created
// 0600 (it holds what the user typed, messages included).
class InputHistory {
public:
    explicit InputHistory(size_t cap = 500) : cap_{cap} {}
    // Reads the last `cap` lines of `path` (a missing file is an empty history) and appends to it
    // from now on. Returns false if the file exists but cannot be read or written.
    bool open(const std::string& path);
    void add(const std::string& line);
    const std::vector<std::string>& lines() const { return lines_; }

private:
    size_t cap_;
    std::string path_;
    std::vector<std::string> lines_;
};

class LineEditor {
public:
    // Candidates for the word being completed: `line` is the whole line, `word` the part of the
    // current word before the cursor, `index` the word's position (0 = the first word).
    using Completer = std::function<std::vector<std::string>(const std::string& line, const std::string& word,
                                                             size_t index)>;
    enum class Result { unchanged, edited, submitted, eof, listed };

    explicit LineEditor(InputHistory* history = nullptr) : history_{history} {}
    void set_completer(Completer c) { completer_ = std::move(c); }
    Result handle(const KeyEvent& k);

    const std::string& text() const { return text_; }
    size_t cursor() const { return cursor_; }  // a byte offset at a character boundary
    size_t cursor_column() const;               // characters before the cursor
    // After Result::submitted: the line (also added to the history, if it has one).
    std::string take_line();
    // After Result::listed: the candidates the completion could not choose between.
    const std::vector<std::string>& listed() const { return listed_; }
    std::string listed_line() const;  // the same on one line, two spaces apart
    void clear();
    static constexpr size_t kMaxBytes = 8192;

private:
    void insert(std::string_view s);
    size_t prev_char(size_t at) const;
    size_t next_char(size_t at) const;
    size_t word_start(size_t at) const;
    size_t word_end(size_t at) const;
    Result complete();
    Result walk_history(int step);

    InputHistory* history_;
    Completer completer_;
    std::string text_, submitted_, draft_;
    size_t cursor_ = 0;
    size_t hist_pos_ = 0;  // == history size while editing a new line
    bool browsing_ = false;
    std::vector<std::string> listed_;
};

// What a terminal's input line is given: where its history lives (empty: not kept) and what Tab
// completes.
struct InputSetup {
    std::string history_path;
    LineEditor::Completer completer;
};

// The input line's state, the same in both terminal modes: the history, the editor on it, and
// the decoder of the terminal's bytes.
struct InputLine {
    explicit InputLine(InputSetup setup);
    InputLine(const InputLine&) = delete;
    InputLine& operator=(const InputLine&) = delete;
    InputHistory history;
    LineEditor editor{&history};
    KeyDecoder keys;
    std::string problem;  // why the history is not kept, when a file was asked for and failed
};

}  // namespace cli
