#pragma once
// Text that came from the network (a message, a DHT value, a contact's request), made safe to
// print on a terminal: a hostile peer must not be able to send escape sequences that clear the
// screen, retitle the window, write the clipboard (OSC 52) or fake a line from someone else.
#include <string>
#include <string_view>

namespace cli {

// C0 controls become caret notation ("^[" for ESC), DEL "^?", C1 controls and the Unicode
// direction overrides and isolates "<U+202E>", a malformed UTF-8 byte "<xFF>", a tab a space;
// each newline becomes `newline` (an indent after it keeps a continuation from passing for a
// line of its own).
std::string printable(std::string_view text, std::string_view newline = "\n");

}  // namespace cli
