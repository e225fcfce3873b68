// libFuzzer: any bytes into established sessions, on a stream (split at an input-chosen point)
// and as datagrams, and straight into a transport cipher.
#include <cstddef>
#include <cstdint>

#include "base/rng.hpp"
#include "crypto/session.hpp"
#include "vectors.hpp"

namespace {
using namespace std::chrono_literals;
std::unique_ptr<crypto::Session> responder_after_init(crypto::Session::Mode mode, const crypto::SessionKeys& ka,
                                                      const crypto::SessionKeys& kb, base::Rng& rng,
                                                      crypto::CookieJar& jar) {
    auto now = base::TimePoint{} + 10s;
    auto a = std::move(*crypto::Session::connect(ka, kb.identity.public_key, mode, rng, {}, now, 1));
    auto b = crypto::Session::accept(kb, {&jar, {}, {}}, mode, rng, {}, now, {});
    if (mode == crypto::Session::Mode::stream) {
        b->receive(a->take_stream_bytes(), now);
    } else {
        for (auto& d : a->take_datagrams()) b->receive(d, now);
    }
    return b;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static bool ready = crypto::init().ok();
    static crypto::Identity alice = vectors::alice(), bob = vectors::bob();
    static crypto::SessionKeys ka{alice}, kb{bob};
    static base::SeededRng rng{5};
    static crypto::CookieJar jar{rng, base::TimePoint{}};
    (void)ready;
    auto now = base::TimePoint{} + 11s;
    std::span<const uint8_t> in{data, size};
    auto s = responder_after_init(crypto::Session::Mode::stream, ka, kb, rng, jar);
    size_t cut = size ? data[0] % (size + 1) : 0;
    s->receive(in.first(cut), now);
    s->receive(in.subspan(cut), now);
    s->tick(now + 1h);
    auto d = responder_after_init(crypto::Session::Mode::datagram, ka, kb, rng, jar);
    d->receive(in, now);
    d->receive(in, now);
    return 0;
}
