#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "chat/payload.hpp"

namespace {
std::span<const uint8_t> b(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
}  // namespace

TEST_CASE("session payloads: round trip, and every bad input is an error") {
    chat::PayloadDecoder d;
    auto ping = chat::encode(chat::Payload{chat::PayloadType::ping, 42, {}, {}});
    CHECK(ping == R"({"t":"ping","n":42})");
    auto p = d.decode(b(ping));
    REQUIRE(p);
    CHECK(p->type == chat::PayloadType::ping);
    CHECK(p->n == 42);
    auto pong = d.decode(b(chat::encode(chat::Payload{chat::PayloadType::pong, 7, {}, {}})));
    REQUIRE(pong);
    CHECK(pong->type == chat::PayloadType::pong);
    CHECK(d.decode(b(R"({"t":"hello","n":1})")).status().code() == base::Errc::not_found);
    for (std::string bad : std::vector<std::string>{"", "{", "[]", "42", R"({"t":1})", R"({"n":1})", R"({"t":"ping"})",
                                                    R"({"t":"ping","n":-1})", R"({"t":"ping","n":"1"})",
                                                    std::string(70000, ' ')})
        CHECK(d.decode(b(bad)).status().code() == base::Errc::malformed);
    for (size_t len = 0; len < ping.size(); ++len) CHECK_FALSE(d.decode(b(ping.substr(0, len))));
}
