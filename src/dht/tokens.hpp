#pragma once
// Write tokens (BEP 5 style): a find_value reply carries a token bound to the requester's address
// and a rotating secret; store must present it. Someone who cannot receive at an address cannot
// store on its behalf. A token stays valid for one to two rotation periods.
#include <array>
#include <string>
#include <string_view>

#include "base/endpoint.hpp"
#include "base/rng.hpp"
#include "base/time.hpp"

namespace dht {

class TokenIssuer {
public:
    TokenIssuer(base::Rng& rng, base::Duration rotation, base::TimePoint now);
    std::string issue(const base::Endpoint& requester, base::TimePoint now);
    bool valid(std::string_view token, const base::Endpoint& requester, base::TimePoint now);

private:
    void rotate_if_due(base::TimePoint now);
    std::string make(const std::array<uint8_t, 32>& secret, const base::Endpoint& ep) const;

    base::Rng& rng_;
    base::Duration rotation_;
    base::TimePoint rotated_at_;
    std::array<uint8_t, 32> current_{};
    std::array<uint8_t, 32> previous_{};
};

}  // namespace dht
