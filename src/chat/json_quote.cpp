#include "chat/json_quote.hpp"

#include <nlohmann/json.hpp>

namespace chat {

std::string json_quote(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace chat
