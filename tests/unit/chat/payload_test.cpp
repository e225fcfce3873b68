#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "chat/payload.hpp"

namespace {
std::span<const uint8_t> b(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
chat::Payload numbered(chat::PayloadType t, uint64_t n) {
    chat::Payload p;
    p.type = t;
    p.n = n;
    return p;
}
}  // namespace

TEST_CASE("session payloads: round trip, and every bad input is an error") {
    chat::PayloadDecoder d;
    auto ping = chat::encode(numbered(chat::PayloadType::ping, 42));
    CHECK(ping == R"({"t":"ping","n":42})");
    auto p = d.decode(b(ping));
    REQUIRE(p);
    CHECK(p->type == chat::PayloadType::ping);
    CHECK(p->n == 42);
    auto pong = d.decode(b(chat::encode(numbered(chat::PayloadType::pong, 7))));
    REQUIRE(pong);
    CHECK(pong->type == chat::PayloadType::pong);
    CHECK(d.decode(b(R"({"t":"howdy","n":1})")).status().code() == base::Errc::not_found);
    chat::Payload ack;
    ack.type = chat::PayloadType::ack;
    ack.id[15] = 0xab;
    CHECK(chat::encode(ack) == R"({"t":"ack","id":"000000000000000000000000000000ab"})");
    auto ap = d.decode(b(chat::encode(ack)));
    REQUIRE(ap);
    CHECK(ap->id == ack.id);
    for (std::string bad : std::vector<std::string>{"", "{", "[]", "42", R"({"t":1})", R"({"n":1})", R"({"t":"ping"})",
                                                    R"({"t":"ping","n":-1})", R"({"t":"ping","n":"1"})",
                                                    std::string(70000, ' ')})
        CHECK(d.decode(b(bad)).status().code() == base::Errc::malformed);
    for (size_t len = 0; len < ping.size(); ++len) CHECK_FALSE(d.decode(b(ping.substr(0, len))));
}

TEST_CASE("session payloads: hello and text round trip; a bad text is an error") {
    chat::PayloadDecoder d;
    chat::Payload h;
    h.type = chat::PayloadType::hello;
    h.takes_text = true;
    h.reply = true;
    CHECK(chat::encode(h) == R"({"t":"hello","text":1,"r":1})");
    auto hp = d.decode(b(chat::encode(h)));
    REQUIRE(hp);
    CHECK(hp->type == chat::PayloadType::hello);
    CHECK(hp->takes_text);
    CHECK(hp->reply);
    // A hello from a later version with features we do not know: still a hello, taking nothing.
    auto later = d.decode(b(R"({"t":"hello","voice":1})"));
    REQUIRE(later);
    CHECK_FALSE(later->takes_text);
    CHECK_FALSE(later->reply);

    chat::Payload t;
    t.type = chat::PayloadType::text;
    for (size_t i = 0; i < t.id.size(); ++i) t.id[i] = static_cast<uint8_t>(i);
    t.ts_ms = 1800000000000;
    t.seq = 3;
    t.text = "h\u00e9llo \"you\"\n";
    std::string wire = chat::encode(t);
    CHECK(wire == R"({"t":"text","id":"000102030405060708090a0b0c0d0e0f","ts":1800000000000,"seq":3,"text":"héllo \"you\"\n"})");
    auto tp = d.decode(b(wire));
    REQUIRE(tp);
    CHECK(tp->type == chat::PayloadType::text);
    CHECK(tp->id == t.id);
    CHECK(tp->ts_ms == t.ts_ms);
    CHECK(tp->seq == 3);
    CHECK(tp->text == t.text);
    for (std::string bad : std::vector<std::string>{
             R"({"t":"text","ts":1,"seq":1,"text":"x"})",
             R"({"t":"text","id":"0001","ts":1,"seq":1,"text":"x"})",
             R"({"t":"text","id":"000102030405060708090a0b0c0d0e0f","seq":1,"text":"x"})",
             R"({"t":"text","id":"000102030405060708090a0b0c0d0e0f","ts":1,"text":"x"})",
             R"({"t":"text","id":"000102030405060708090a0b0c0d0e0f","ts":1,"seq":-1,"text":"x"})",
             R"({"t":"text","id":"000102030405060708090a0b0c0d0e0f","ts":1,"seq":1})",
             R"({"t":"text","id":"000102030405060708090a0b0c0d0e0f","ts":1,"seq":1,"text":7})",
             "{\"t\":\"text\",\"id\":\"000102030405060708090a0b0c0d0e0f\",\"ts\":1,\"seq\":1,\"text\":\"\xff\"}"})
        CHECK(d.decode(b(bad)).status().code() == base::Errc::malformed);
    for (size_t len = 0; len < wire.size(); ++len) CHECK_FALSE(d.decode(b(wire.substr(0, len))));
}
