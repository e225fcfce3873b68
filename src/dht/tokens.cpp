#include "dht/tokens.hpp"

#include "base/hex.hpp"
#include "crypto/keys.hpp"

namespace dht {

TokenIssuer::TokenIssuer(base::Rng& rng, base::Duration rotation, base::TimePoint now)
    : rng_{rng}, rotation_{rotation}, rotated_at_{now} {
    rng_.fill(std::as_writable_bytes(std::span{current_}));
    rng_.fill(std::as_writable_bytes(std::span{previous_}));
}

void TokenIssuer::rotate_if_due(base::TimePoint now) {
    if (now - rotated_at_ < rotation_) return;
    // After a long pause both secrets are stale; two rotations make that so.
    previous_ = now - rotated_at_ >= 2 * rotation_ ? std::array<uint8_t, 32>{} : current_;
    rng_.fill(std::as_writable_bytes(std::span{current_}));
    rotated_at_ = now;
}

std::string TokenIssuer::make(const std::array<uint8_t, 32>& secret, const base::Endpoint& ep) const {
    std::array<uint8_t, 19> msg{};
    for (size_t i = 0; i < ep.addr.size(); ++i) msg[i] = ep.addr[i];
    msg[16] = static_cast<uint8_t>(ep.port >> 8);
    msg[17] = static_cast<uint8_t>(ep.port);
    msg[18] = static_cast<uint8_t>(ep.family);
    auto h = crypto::keyed_hash(secret, msg);
    return base::to_hex(std::span<const uint8_t>{h.data(), 8});
}

std::string TokenIssuer::issue(const base::Endpoint& requester, base::TimePoint now) {
    rotate_if_due(now);
    return make(current_, requester);
}

bool TokenIssuer::valid(std::string_view token, const base::Endpoint& requester, base::TimePoint now) {
    rotate_if_due(now);
    auto eq = [&](const std::string& t) {
        return crypto::equal({reinterpret_cast<const uint8_t*>(t.data()), t.size()},
                             {reinterpret_cast<const uint8_t*>(token.data()), token.size()});
    };
    return eq(make(current_, requester)) || eq(make(previous_, requester));
}

}  // namespace dht
