#pragma once
// A string as a JSON string literal (quoted and escaped; invalid UTF-8 replaced), for JSON that
// is written field by field: the payloads and journal records every chat message costs, where
// building a JSON document for each one cost more than the rest of the work.
#include <string>

namespace chat {

std::string json_quote(const std::string& s);

}  // namespace chat
