// libFuzzer: any bytes as a datagram to a DHT node with real authentication. The node must not
// crash, and must drop what it cannot authenticate (the sanitizers check the rest).
#include <cstddef>
#include <cstdint>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "dht/auth.hpp"
#include "dht/node.hpp"
#include "fake_transport.hpp"
#include "vectors.hpp"

namespace {
struct World {
    crypto::Identity bob = vectors::bob();
    dht::Config cfg;
    dht::CryptoAuthenticator auth{bob, 16};
    testing::FakeTransport transport;
    dht::Decoder decoder;
    base::SeededRng rng{1};
    base::CaptureLogger log{base::Level::off};
    dht::Node node{cfg, auth, transport, decoder, rng, log, base::TimePoint{} + std::chrono::seconds(1)};
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static bool ready = crypto::init().ok();
    static World w;
    (void)ready;
    auto now = base::TimePoint{} + std::chrono::seconds(2);
    w.node.on_datagram(base::Endpoint::v4(192, 0, 2, 7, 4000), {data, size}, now);
    w.node.tick(now);
    w.transport.sent.clear();
    return 0;
}
