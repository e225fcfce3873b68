// The input line (cli/line_editor.hpp): terminal bytes to keys, editing by character, history
// kept 0600 across starts, and completion.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/line_editor.hpp"

using cli::Key;
using cli::KeyEvent;
using cli::LineEditor;

namespace {
void type(LineEditor& e, const std::string& bytes) {
    cli::KeyDecoder d;
    for (auto& k : d.feed(bytes)) e.handle(k);
}
KeyEvent k(Key key) { return KeyEvent{key, {}, 0}; }
}  // namespace

TEST_CASE("keys: arrows, Home/End, Delete, PgUp, Alt-digit and Ctrl keys are decoded, split reads too") {
    cli::KeyDecoder d;
    auto ks = d.feed("a\x1b[D\x1b[C\x1bOH\x1b[4~\x1b[3~\x1b[5~\x1b" "3\x01\x05\x17\x15\x0b\r");
    std::vector<Key> want = {Key::text, Key::left, Key::right, Key::home, Key::end, Key::del, Key::page_up,
                             Key::alt_digit, Key::home, Key::end, Key::kill_word, Key::kill_start, Key::kill_end,
                             Key::enter};
    REQUIRE(ks.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) CHECK(ks[i].key == want[i]);
    CHECK(ks[7].digit == 3);
    // A sequence and a UTF-8 character cut across two reads.
    CHECK(d.feed("\x1b").empty());
    auto a = d.feed("[A\xc3");
    REQUIRE(a.size() == 1);
    CHECK(a[0].key == Key::up);
    auto b = d.feed("\xa9!");
    REQUIRE(b.size() == 1);
    CHECK(b[0].text == "\xc3\xa9!");
    // Ctrl-Right is a word move; an unknown sequence is no text.
    auto c = d.feed("\x1b[1;5C\x1b[99z");
    REQUIRE(c.size() == 2);
    CHECK(c[0].key == Key::word_right);
    CHECK(c[1].key == Key::other);
}

TEST_CASE("line editor: cursor movement, insertion, word and line deletion by UTF-8 character") {
    LineEditor e;
    type(e, "hello world");
    CHECK(e.cursor() == 11);
    type(e, "\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D");  // five left: before "world"
    type(e, "big ");
    CHECK(e.text() == "hello big world");
    type(e, "\x01X");  // Ctrl-A, then insert at the start
    CHECK(e.text() == "Xhello big world");
    type(e, "\x05\x17");  // Ctrl-E, Ctrl-W: the last word goes
    CHECK(e.text() == "Xhello big ");
    type(e, "\x1b[H\x1b[3~");  // Home, Delete
    CHECK(e.text() == "hello big ");
    type(e, "\x1b[F\x1b[D\x1b[D\x15");  // End, two left, Ctrl-U: what is before the cursor goes
    CHECK(e.text() == "g ");
    CHECK(e.cursor() == 0);
    e.clear();
    type(e, "caf\xc3\xa9");  // "café": one left lands before the é, not inside it
    type(e, "\x1b[D");
    CHECK(e.cursor() == 3);
    CHECK(e.cursor_column() == 3);
    type(e, "\x7f");  // backspace removes the f
    CHECK(e.text() == "ca\xc3\xa9");
    type(e, "\x1b[C\x7f");  // right, backspace: the whole é
    CHECK(e.text() == "ca");
    type(e, "\x0b");  // Ctrl-K at the end: nothing
    CHECK(e.handle(k(Key::kill_end)) == LineEditor::Result::unchanged);
    type(e, "\x1b[H\x0b");  // Home, Ctrl-K: everything
    CHECK(e.text().empty());
    CHECK(e.handle(k(Key::eof)) == LineEditor::Result::eof);  // Ctrl-D on an empty line
}

TEST_CASE("line editor: Enter submits, Up/Down walk the history and keep the draft") {
    cli::InputHistory h;
    LineEditor e(&h);
    type(e, "first\r");
    CHECK(e.take_line() == "first");
    type(e, "second");
    CHECK(e.handle(k(Key::enter)) == LineEditor::Result::submitted);
    CHECK(e.take_line() == "second");
    type(e, " secret\r");  // a leading space: not kept
    type(e, "second\r");   // a repeat: kept once
    CHECK(h.lines() == std::vector<std::string>{"first", "second"});
    type(e, "draft");
    type(e, "\x1b[A");
    CHECK(e.text() == "second");
    type(e, "\x1b[A");
    CHECK(e.text() == "first");
    CHECK(e.handle(k(Key::up)) == LineEditor::Result::unchanged);  // the oldest
    type(e, "\x1b[B\x1b[B");
    CHECK(e.text() == "draft");
    CHECK(e.handle(k(Key::down)) == LineEditor::Result::unchanged);
}

TEST_CASE("input history: kept across starts in a 0600 file, trimmed to its cap") {
    char dir[] = "/tmp/kadchat-hist-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    std::string path = std::string(dir) + "/input_history";
    {
        cli::InputHistory h(3);
        REQUIRE(h.open(path));
        for (auto l : {"a", "b", "c", "d"}) h.add(l);
        CHECK(h.lines() == std::vector<std::string>{"b", "c", "d"});
    }
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    {
        std::ofstream(path, std::ios::app) << "torn";  // a crash mid-append
        cli::InputHistory h(3);
        REQUIRE(h.open(path));
        CHECK(h.lines() == std::vector<std::string>{"c", "d", "torn"});
        cli::InputHistory again(3);
        REQUIRE(again.open(path));
        CHECK(again.lines() == h.lines());
    }
    std::remove(path.c_str());
    ::rmdir(dir);
}

TEST_CASE("line editor: Tab completes a unique candidate, extends a common prefix, lists the rest") {
    LineEditor e;
    std::vector<std::pair<std::string, size_t>> asked;
    e.set_completer([&](const std::string&, const std::string& word, size_t index) {
        asked.push_back({word, index});
        if (index == 0) return std::vector<std::string>{"/select", "/send", "/history", "/help"};
        return std::vector<std::string>{"alice", "albert", "bob"};
    });
    type(e, "/hi");
    CHECK(e.handle(k(Key::tab)) == LineEditor::Result::edited);
    CHECK(e.text() == "/history ");
    e.clear();
    type(e, "/se");  // "/select" and "/send": nothing to add, so they are listed
    CHECK(e.handle(k(Key::tab)) == LineEditor::Result::listed);
    CHECK(e.listed() == std::vector<std::string>{"/select", "/send"});
    CHECK(e.text() == "/se");
    e.clear();
    type(e, "/select al");  // the second word: names; "alice" and "albert" share "al" only
    CHECK(e.handle(k(Key::tab)) == LineEditor::Result::listed);
    type(e, "i");
    CHECK(e.handle(k(Key::tab)) == LineEditor::Result::edited);
    CHECK(e.text() == "/select alice ");
    CHECK(asked.back() == std::pair<std::string, size_t>{"ali", 1});
    e.clear();
    type(e, "x");
    CHECK(e.handle(k(Key::tab)) == LineEditor::Result::unchanged);  // no candidate
    CHECK(e.text() == "x");
}
