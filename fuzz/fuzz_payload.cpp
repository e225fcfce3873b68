// libFuzzer: any bytes as a session payload (ping, pong, msg, ack, hello, text) and as a letter body, as a
// peer could send them inside an authenticated session or a sealed envelope.
#include <cstddef>
#include <cstdint>

#include "chat/payload.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static chat::PayloadDecoder dec;
    std::span<const uint8_t> in{data, size};
    if (auto p = dec.decode(in)) {
        // What decodes must encode and decode back to the same thing.
        std::string again = chat::encode(*p);
        auto q = dec.decode({reinterpret_cast<const uint8_t*>(again.data()), again.size()});
        if (!q || q->type != p->type || q->n != p->n || q->envelope != p->envelope || q->id != p->id ||
            q->takes_text != p->takes_text || q->reply != p->reply || q->ts_ms != p->ts_ms || q->seq != p->seq ||
            q->text != p->text) __builtin_trap();
    }
    if (auto b = dec.decode_body(in)) {
        std::string again = chat::encode(*b);
        auto c = dec.decode_body({reinterpret_cast<const uint8_t*>(again.data()), again.size()});
        if (!c || c->seq != b->seq) __builtin_trap();
    }
    return 0;
}
