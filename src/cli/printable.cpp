#include "cli/printable.hpp"

#include <cstdint>
#include <cstdio>

namespace cli {

namespace {

// The length of a well-formed UTF-8 character at `s[i]` (overlongs, surrogates and values past
// U+10FFFF are malformed), or 0.
size_t utf8_char(std::string_view s, size_t i, uint32_t& cp) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xc0) == 0x80; };
    unsigned char c = b(0);
    if (c < 0x80) {
        cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf && cont(1)) {
        cp = (c & 0x1fu) << 6 | (b(1) & 0x3fu);
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef && cont(1) && cont(2)) {
        cp = (c & 0x0fu) << 12 | (b(1) & 0x3fu) << 6 | (b(2) & 0x3fu);
        return (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) ? 0 : 3;
    }
    if (c >= 0xf0 && c <= 0xf4 && cont(1) && cont(2) && cont(3)) {
        cp = (c & 0x07u) << 18 | (b(1) & 0x3fu) << 12 | (b(2) & 0x3fu) << 6 | (b(3) & 0x3fu);
        return (cp < 0x10000 || cp > 0x10ffff) ? 0 : 4;
    }
    return 0;
}

bool hidden_format(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9f) ||        // C1 controls (CSI is U+009B)
           (cp >= 0x202a && cp <= 0x202e) ||    // direction embeddings and overrides
           (cp >= 0x2066 && cp <= 0x2069);      // direction isolates
}

}  // namespace

std::string printable(std::string_view text, std::string_view newline) {
    std::string out;
    out.reserve(text.size());
    char buf[16];
    for (size_t i = 0; i < text.size();) {
        uint32_t cp = 0;
        size_t n = utf8_char(text, i, cp);
        if (n == 0) {
            std::snprintf(buf, sizeof buf, "<x%02X>", static_cast<unsigned char>(text[i]));
            out += buf;
            ++i;
            continue;
        }
        if (cp == '\n') {
            out += newline;
        } else if (cp == '\t') {
            out += ' ';
        } else if (cp < 0x20) {
            out += '^';
            out += static_cast<char>(cp + 0x40);
        } else if (cp == 0x7f) {
            out += "^?";
        } else if (hidden_format(cp)) {
            std::snprintf(buf, sizeof buf, "<U+%04X>", cp);
            out += buf;
        } else {
            out.append(text.substr(i, n));
        }
        i += n;
    }
    return out;
}

}  // namespace cli
