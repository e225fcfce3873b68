#include "session_vectors.hpp"

#include "base/rng.hpp"
#include "crypto/envelope.hpp"
#include "crypto/session.hpp"
#include "vectors.hpp"

namespace vectors {

std::vector<std::pair<std::string, std::vector<uint8_t>>> session_messages() {
    using namespace std::chrono_literals;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
    auto alice = vectors::alice(), bob = vectors::bob();
    crypto::SessionKeys ka{alice}, kb{bob};
    base::SeededRng rng{2026};
    base::TimePoint t0 = base::TimePoint{} + 1000s;
    const uint64_t wall = 1764000000000;  // 2025-11-24T16:00:00Z
    auto str = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };

    auto a = std::move(*crypto::Session::connect(ka, bob.public_key, crypto::Session::Mode::datagram, rng, {}, t0, wall,
                                                 str("hello bob")));
    auto init = a->take_datagrams().at(0);
    out.emplace_back("init", init);

    crypto::CookieJar jar{rng, t0};
    std::string src = "192.0.2.1:44544";
    auto cookie = crypto::accept_init(kb, init, str(src), true, jar, rng, t0);
    out.emplace_back("cookie_reply", cookie.reply);

    crypto::ResponderContext ctx{&jar, [] { return false; }, {}};
    auto b = crypto::Session::accept(kb, ctx, crypto::Session::Mode::datagram, rng, {}, t0, str(src));
    b->receive(init, t0);
    auto response = b->take_datagrams().at(0);
    out.emplace_back("response", response);
    a->receive(response, t0);
    (void)a->send(str("frame from alice"), t0);
    out.emplace_back("frame_alice_to_bob", a->take_datagrams().at(0));
    (void)b->send(str("frame from bob"), t0);
    out.emplace_back("frame_bob_to_alice", b->take_datagrams().at(0));

    crypto::MessageId id{};
    for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i);
    out.emplace_back("envelope", *crypto::seal_envelope(alice, bob.public_key, id, wall, str("sealed for bob"), rng));
    return out;
}

}  // namespace vectors
