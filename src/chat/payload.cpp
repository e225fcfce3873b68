#include "chat/payload.hpp"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstring>
#include <vector>

namespace chat {

namespace {
constexpr size_t kMaxPayload = 65536;
}

struct PayloadDecoder::Impl {
    simdjson::dom::parser parser{kMaxPayload + 64};
    std::vector<uint8_t> buf = std::vector<uint8_t>(kMaxPayload + simdjson::SIMDJSON_PADDING);
};

PayloadDecoder::PayloadDecoder() : impl_{new Impl} {}
PayloadDecoder::~PayloadDecoder() { delete impl_; }

base::Result<Payload> PayloadDecoder::decode(std::span<const uint8_t> bytes) {
    if (bytes.size() > kMaxPayload) return base::malformed("payload larger than 64 KiB");
    std::memcpy(impl_->buf.data(), bytes.data(), bytes.size());
    simdjson::dom::element doc;
    if (impl_->parser.parse(impl_->buf.data(), bytes.size(), false).get(doc) != simdjson::SUCCESS)
        return base::malformed("payload is not JSON");
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return base::malformed("payload is not a JSON object");
    std::string_view t;
    if (obj["t"].get_string().get(t) != simdjson::SUCCESS) return base::malformed("payload.t: missing or not a string");
    Payload p;
    if (t == "ping") {
        p.type = PayloadType::ping;
    } else if (t == "pong") {
        p.type = PayloadType::pong;
    } else {
        return base::Status{base::Errc::not_found, "payload type '" + std::string(t) + "' is not known here"};
    }
    if (obj["n"].get_uint64().get(p.n) != simdjson::SUCCESS)
        return base::malformed("payload.n: missing or not an unsigned integer");
    return p;
}

std::string encode(const Payload& p) {
    nlohmann::ordered_json j;
    j["t"] = p.type == PayloadType::ping ? "ping" : "pong";
    j["n"] = p.n;
    return j.dump();
}

}  // namespace chat
