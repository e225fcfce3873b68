// libFuzzer: what a peer or a stranger can send during NAT traversal: punch probes, segments of
// the reliable channel inside a datagram session, sealed offers from a rendezvous node, relay
// frames to a relay with an open circuit (PROTOCOL.md §17), LAN announces (§18), and a router's
// PCP answers (§19).
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/hex.hpp"
#include "dht/lan_discovery.hpp"
#include "dht/relay.hpp"
#include "net/pcp_message.hpp"
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
    {
        net::pcp::MapRequest req;
        req.client = base::Endpoint::v4(192, 168, 1, 20, 0);
        req.internal_port = 44544;
        (void)net::pcp::parse_map_response(in, req);
    }
    {
        static dht::LanDiscovery lan{dht::NodeId{bob.public_key}, 44544, {}, base::TimePoint{}};
        (void)lan.on_datagram(base::Endpoint::v4(10, 0, 0, 2, 44545), in, base::TimePoint{});
    }

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
    // A relay with one open circuit, fed the input as frames from either end, and with the
    // circuit's real ids written over the input's (for coverage past the id lookup).
    {
        static base::SeededRng relay_rng{11};
        dht::RelayLimits limits;
        limits.bytes = 4096;
        dht::Relay relay{limits, relay_rng};
        dht::NodeId x, y;
        x.bytes().fill(1);
        y.bytes().fill(2);
        auto ex = base::Endpoint::v4(203, 0, 113, 1, 1), ey = base::Endpoint::v4(203, 0, 113, 2, 2);
        auto o = relay.open(x, ex, y, ey, now);
        if (o) {
            relay.confirm(o->target_circuit, now);
            (void)relay.on_datagram(ex, in, now);
            if (size >= dht::kRelayHeader) {
                std::vector<uint8_t> f(data, data + size);
                uint64_t c = (data[0] & 1) ? o->asker_circuit : o->target_circuit;
                for (int i = 0; i < 8; ++i) f[2 + i] = static_cast<uint8_t>(c >> (8 * (7 - i)));
                f[0] = dht::kRelayType;
                for (int i = 0; i < 3; ++i) (void)relay.on_datagram((data[0] & 1) ? ex : ey, f, now);
            }
            base::TimePoint next = base::kNever;
            (void)relay.tick(now + 3h, next);
        }
    }
    return 0;
}
