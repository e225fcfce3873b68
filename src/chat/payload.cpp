#include "chat/payload.hpp"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstring>
#include <vector>

#include "base/hex.hpp"
#include "chat/json_quote.hpp"

namespace chat {

namespace {
constexpr size_t kMaxPayload = 65536;
}

struct PayloadDecoder::Impl {
    simdjson::dom::parser parser{kMaxPayload + 64};
    std::vector<uint8_t> buf = std::vector<uint8_t>(kMaxPayload + simdjson::SIMDJSON_PADDING);

    base::Result<simdjson::dom::object> parse(std::span<const uint8_t> bytes, const char* what) {
        if (bytes.size() > kMaxPayload) return base::malformed(std::string(what) + " larger than 64 KiB");
        std::memcpy(buf.data(), bytes.data(), bytes.size());
        simdjson::dom::element doc;
        if (parser.parse(buf.data(), bytes.size(), false).get(doc) != simdjson::SUCCESS)
            return base::malformed(std::string(what) + " is not JSON");
        simdjson::dom::object obj;
        if (doc.get_object().get(obj) != simdjson::SUCCESS)
            return base::malformed(std::string(what) + " is not a JSON object");
        return obj;
    }
};

PayloadDecoder::PayloadDecoder() : impl_{new Impl} {}
PayloadDecoder::~PayloadDecoder() { delete impl_; }

base::Result<Payload> PayloadDecoder::decode(std::span<const uint8_t> bytes) {
    auto parsed = impl_->parse(bytes, "payload");
    if (!parsed) return parsed.status();
    simdjson::dom::object obj = *parsed;
    std::string_view t;
    if (obj["t"].get_string().get(t) != simdjson::SUCCESS) return base::malformed("payload.t: missing or not a string");
    Payload p;
    if (t == "ping" || t == "pong") {
        p.type = t == "ping" ? PayloadType::ping : PayloadType::pong;
        if (obj["n"].get_uint64().get(p.n) != simdjson::SUCCESS)
            return base::malformed("payload.n: missing or not an unsigned integer");
    } else if (t == "msg") {
        p.type = PayloadType::msg;
        std::string_view e;
        if (obj["e"].get_string().get(e) != simdjson::SUCCESS || e.size() % 2 != 0)
            return base::malformed("msg.e: missing or not hex");
        p.envelope.resize(e.size() / 2);
        if (!base::from_hex_exact(e, std::span<uint8_t>{p.envelope})) return base::malformed("msg.e: not hex");
    } else if (t == "ack") {
        p.type = PayloadType::ack;
        std::string_view id;
        if (obj["id"].get_string().get(id) != simdjson::SUCCESS || !base::from_hex_exact(id, p.id))
            return base::malformed("ack.id: not 32 hex");
    } else if (t == "hello") {
        p.type = PayloadType::hello;
        uint64_t v = 0;
        if (obj["text"].get_uint64().get(v) == simdjson::SUCCESS) p.takes_text = v == 1;
        if (obj["r"].get_uint64().get(v) == simdjson::SUCCESS) p.reply = v == 1;
    } else if (t == "text") {
        p.type = PayloadType::text;
        std::string_view id, text;
        if (obj["id"].get_string().get(id) != simdjson::SUCCESS || !base::from_hex_exact(id, p.id))
            return base::malformed("text.id: not 32 hex");
        if (obj["ts"].get_uint64().get(p.ts_ms) != simdjson::SUCCESS)
            return base::malformed("text.ts: missing or not an unsigned integer");
        if (obj["seq"].get_uint64().get(p.seq) != simdjson::SUCCESS)
            return base::malformed("text.seq: missing or not an unsigned integer");
        if (obj["text"].get_string().get(text) != simdjson::SUCCESS) return base::malformed("text.text: not a string");
        p.text = text;
    } else {
        return base::Status{base::Errc::not_found, "payload type '" + std::string(t) + "' is not known here"};
    }
    return p;
}

base::Result<LetterBody> PayloadDecoder::decode_body(std::span<const uint8_t> bytes) {
    auto parsed = impl_->parse(bytes, "letter");
    if (!parsed) return parsed.status();
    simdjson::dom::object obj = *parsed;
    LetterBody b;
    simdjson::dom::array ids;
    if (obj["receipt"].get_array().get(ids) == simdjson::SUCCESS) {
        if (ids.size() == 0 || ids.size() > kMaxReceiptIds) return base::malformed("letter.receipt: not 1 to 32 IDs");
        for (auto e : ids) {
            std::string_view h;
            crypto::MessageId id{};
            if (e.get_string().get(h) != simdjson::SUCCESS || !base::from_hex_exact(h, id))
                return base::malformed("letter.receipt[]: not a 32-hex message ID");
            b.receipt.push_back(id);
        }
        return b;
    }
    std::string_view text;
    if (obj["text"].get_string().get(text) != simdjson::SUCCESS) return base::malformed("letter.text: not a string");
    if (obj["seq"].get_uint64().get(b.seq) != simdjson::SUCCESS) return base::malformed("letter.seq: not an unsigned integer");
    b.text = text;
    return b;
}

std::string encode(const Payload& p) {
    // The two that every message costs are written by hand (byte for byte what the JSON library
    // writes, as the unit tests check): no document tree to build and free for each one.
    if (p.type == PayloadType::ack) return R"({"t":"ack","id":")" + base::to_hex(std::span<const uint8_t>{p.id}) + R"("})";
    if (p.type == PayloadType::text) {
        std::string out = R"({"t":"text","id":")" + base::to_hex(std::span<const uint8_t>{p.id}) + R"(","ts":)" +
                          std::to_string(p.ts_ms) + R"(,"seq":)" + std::to_string(p.seq) + R"(,"text":)";
        return out + json_quote(p.text) + '}';
    }
    nlohmann::ordered_json j;
    switch (p.type) {
        case PayloadType::ping:
        case PayloadType::pong:
            j["t"] = p.type == PayloadType::ping ? "ping" : "pong";
            j["n"] = p.n;
            break;
        case PayloadType::msg:
            j["t"] = "msg";
            j["e"] = base::to_hex(std::span<const uint8_t>{p.envelope});
            break;
        case PayloadType::ack:
        case PayloadType::text:
            break;  // above
        case PayloadType::hello:
            j["t"] = "hello";
            if (p.takes_text) j["text"] = 1;
            if (p.reply) j["r"] = 1;
            break;
    }
    return j.dump();
}

std::string encode(const LetterBody& b) {
    nlohmann::ordered_json j;
    if (!b.receipt.empty()) {
        auto ids = nlohmann::ordered_json::array();
        for (auto& id : b.receipt) ids.push_back(base::to_hex(std::span<const uint8_t>{id}));
        j["receipt"] = std::move(ids);
        return j.dump();
    }
    j["text"] = b.text;
    j["seq"] = b.seq;
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace chat
