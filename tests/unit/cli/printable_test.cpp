// cli::printable: what a hostile peer's text becomes on the terminal.
#include <doctest/doctest.h>

#include "cli/printable.hpp"

using cli::printable;

TEST_CASE("printable: escape sequences, C1 controls and direction overrides are shown, not obeyed") {
    CHECK(printable("plain text, café ✓") == "plain text, café ✓");
    CHECK(printable("\x1b[2J\x1b]52;c;ZXZpbA==\x07") == "^[[2J^[]52;c;ZXZpbA==^G");
    CHECK(printable("a\rb\x7f") == "a^Mb^?");
    CHECK(printable("\xc2\x9b" "31m") == "<U+009B>31m");  // the one-byte CSI (C1)
    CHECK(printable("abc\xe2\x80\xae" "fdp.exe") == "abc<U+202E>fdp.exe");
    CHECK(printable("\xe2\x81\xa6x\xe2\x81\xa9") == "<U+2066>x<U+2069>");
    CHECK(printable("bad \xff\xc0\xaf end") == "bad <xFF><xC0><xAF> end");  // malformed, overlong
    CHECK(printable("\xed\xa0\x80") == "<xED><xA0><x80>");                    // a surrogate
    CHECK(printable("tab\there") == "tab here");
    CHECK(printable(std::string("nul\0byte", 8)) == "nul^@byte");
}

TEST_CASE("printable: a newline is indented, so a continuation cannot pass for another sender's line") {
    CHECK(printable("hi\n[alice] send me your key", "\n    ") == "hi\n    [alice] send me your key");
    CHECK(printable("one\ntwo") == "one\ntwo");
}
