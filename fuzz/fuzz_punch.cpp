// libFuzzer: what a peer or a stranger can send during NAT traversal: punch probes, segments of
// the reliable channel inside a datagram session, and sealed offers from a rendezvous node.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/hex.hpp"
#include "session/offer.hpp"
#include "session/probe.hpp"
#include "session/reliable.hpp"
#include "vectors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static bool ready = crypto::init().ok();
    static crypto::Identity alice = vectors::alice(), bob = vectors::bob();
    (void)ready;
    std::span<const uint8_t> in{data, size};
    session::PunchKey key{};
    key.fill(3);
    (void)session::probe_tag(in);
    (void)session::decode_probe(in, key);

    // The reliable channel: the input cut into segments at bytes that say where.
    using namespace std::chrono_literals;
    base::TimePoint now = base::TimePoint{} + 1h;
    session::ReliableChannel ch{{}, now};
    std::vector<std::vector<uint8_t>> out;
    size_t at = 0;
    while (at < size) {
        size_t len = std::min<size_t>(size - at, 1 + data[at] % 64);
        ch.on_segment(in.subspan(at, len), now, out);
        at += len;
        now += 10ms;
        ch.tick(now);
    }
    ch.send(in, now);
    (void)ch.take_output();
    ch.tick(now + 1min);

    // An offer: the raw bytes as hex, and (for coverage past the seal) a real envelope holding
    // the input as its payload.
    static session::OfferOpener opener{bob};
    (void)opener.open(base::to_hex(in), alice.public_key, 1'800'000'000'000);
    static base::SeededRng rng{9};
    crypto::MessageId id{};
    if (size >= 16) std::copy_n(data, 16, id.begin());
    auto env = crypto::seal_envelope(alice, bob.public_key, id, 1'800'000'000'000, in, rng);
    if (env) (void)opener.open(base::to_hex(std::span<const uint8_t>{*env}), alice.public_key, 1'800'000'000'000);
    return 0;
}
