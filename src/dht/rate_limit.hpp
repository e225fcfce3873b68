#pragma once
// A token bucket per source address (the port is ignored: one host, one bucket), bounded in
// memory. Used where one request makes this node send to someone else (rendezvous forwards,
// NAT dial-backs), so that nobody can turn the node into a traffic source.
#include <cstring>
#include <random>
#include <unordered_map>

#include "base/endpoint.hpp"
#include "base/time.hpp"

namespace dht {

class RateLimiter {
public:
    // `prefix`: the leading address bits that name a source (32 or 128: one host; 24: a /24 for
    // IPv4, a /48 for IPv6 then).
    RateLimiter(double per_second, double burst, size_t max_sources = 4096, int prefix = 128)
        : rate_{per_second}, burst_{burst}, max_{max_sources}, prefix_{prefix},
          buckets_{0, KeyHash{random_seed()}} {}
    // Takes one token for `from`; false when its bucket is empty (the request is refused).
    bool allow(const base::Endpoint& from, base::TimePoint now) {
        auto it = buckets_.find(key_of(from));
        if (it == buckets_.end()) {
            // A sweep costs a pass over every bucket: at most every 100 ms, so that a flood from
            // forged addresses cannot make each datagram pay for one.
            if (buckets_.size() >= max_ && now - swept_ >= std::chrono::milliseconds(100)) {
                swept_ = now;
                forget_idle(now);
            }
            if (buckets_.size() >= max_) return false;  // everyone is busy: refuse newcomers
            it = buckets_.emplace(key_of(from), Bucket{burst_, now}).first;
        }
        Bucket& b = it->second;
        double secs = std::chrono::duration<double>(now - b.at).count();
        b.tokens = std::min(burst_, b.tokens + secs * rate_);
        b.at = now;
        if (b.tokens < 1) return false;
        b.tokens -= 1;
        return true;
    }
    size_t sources() const { return buckets_.size(); }

private:
    struct Bucket {
        double tokens;
        base::TimePoint at;
    };
    void forget_idle(base::TimePoint now) {
        // A bucket that would be full again carries no information.
        for (auto it = buckets_.begin(); it != buckets_.end();) {
            double secs = std::chrono::duration<double>(now - it->second.at).count();
            it = it->second.tokens + secs * rate_ >= burst_ ? buckets_.erase(it) : std::next(it);
        }
    }
    // The source's address, masked to the prefix, as two words: the table is searched on every
    // datagram, and comparing words costs a fraction of comparing endpoints byte by byte.
    struct Key {
        uint64_t hi, lo;
        bool v6;
        friend bool operator==(const Key&, const Key&) = default;
    };
    // Searched on every datagram, so a hash table; keyed with a secret seed, because the sources
    // choose the keys, and addresses picked to collide must not turn each search into a scan.
    struct KeyHash {
        uint64_t seed;
        size_t operator()(const Key& k) const noexcept {
            uint64_t h = (k.hi ^ seed) * 0x9e3779b97f4a7c15ULL;
            h = (h ^ (h >> 31) ^ k.lo ^ (seed << 1 | k.v6)) * 0xbf58476d1ce4e5b9ULL;
            return static_cast<size_t>(h ^ (h >> 29));
        }
    };
    // Not from the node's seeded Rng: the seed changes no decision, only the table's layout, and
    // drawing from that Rng would shift every simulated run's random choices.
    static uint64_t random_seed() {
        std::random_device rd;
        return (static_cast<uint64_t>(rd()) << 32) | rd();
    }
    Key key_of(const base::Endpoint& ep) const {
        auto addr = ep.addr;
        if (prefix_ < 128) {
            // IPv4 uses the first 4 bytes: a /24 keeps 3 of them; IPv6 keeps its first 6 (a /48).
            size_t keep = ep.is_v6() ? 6 : static_cast<size_t>(prefix_ / 8);
            for (size_t i = keep; i < addr.size(); ++i) addr[i] = 0;
        }
        Key k{0, 0, ep.is_v6()};
        std::memcpy(&k.hi, addr.data(), 8);
        std::memcpy(&k.lo, addr.data() + 8, 8);
        return k;
    }
    double rate_, burst_;
    size_t max_;
    int prefix_;
    base::TimePoint swept_{};
    std::unordered_map<Key, Bucket, KeyHash> buckets_;
};

}  // namespace dht
