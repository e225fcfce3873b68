// libFuzzer: any bytes as a handshake message: an init to a responder (with and without load),
// and a response or cookie reply to an initiator that has sent an init.
#include <cstddef>
#include <cstdint>

#include "base/rng.hpp"
#include "crypto/handshake.hpp"
#include "vectors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static bool ready = crypto::init().ok();
    static crypto::Identity alice = vectors::alice(), bob = vectors::bob();
    static crypto::SessionKeys ka{alice}, kb{bob};
    static base::SeededRng rng{3};
    static crypto::CookieJar jar{rng, base::TimePoint{}};
    (void)ready;
    std::span<const uint8_t> in{data, size};
    auto now = base::TimePoint{};
    bool load = size > 0 && (data[size - 1] & 1);
    auto r = crypto::accept_init(kb, in, in.first(std::min<size_t>(size, 8)), load, jar, rng, now);
    if (r.verdict == crypto::InitVerdict::accepted) {
        crypto::noise::TransportKeys keys;
        (void)crypto::write_response(r.init, in, rng, keys);
    }
    auto hs = crypto::InitiatorHandshake::create(ka, bob.public_key);
    if (hs && hs->init_message({}, 1, rng, now)) {
        (void)hs->on_cookie_reply(in, now);
        (void)hs->on_response(in);
    }
    return 0;
}
