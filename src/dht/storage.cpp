#include "dht/storage.hpp"

#include <algorithm>

namespace dht {

MemoryStorage::MemoryStorage(size_t max_values, size_t max_per_publisher, size_t max_value_size)
    : max_values_{max_values}, max_per_publisher_{max_per_publisher}, max_value_size_{max_value_size} {}

base::Status MemoryStorage::put(const Key& key, const NodeId& publisher, std::string data,
                                base::TimePoint now, base::TimePoint expires_at) {
    if (data.size() > max_value_size_)
        return {base::Errc::too_large, "value of " + std::to_string(data.size()) +
                                           " bytes exceeds the limit of " + std::to_string(max_value_size_)};
    auto& vec = values_[key];
    for (auto& v : vec) {
        if (v.publisher == publisher) {  // replacement never changes the counts
            v.data = std::move(data);
            v.stored_at = now;
            v.expires_at = expires_at;
            return {};
        }
    }
    auto quota_error = [&](std::string why) {
        if (vec.empty()) values_.erase(key);
        return base::Status{base::Errc::limit, std::move(why)};
    };
    if (count_ >= max_values_) return quota_error("storage full (" + std::to_string(max_values_) + " values)");
    auto& mine = per_publisher_[publisher];
    if (mine >= max_per_publisher_) return quota_error("publisher quota reached");
    vec.push_back({publisher, std::move(data), now, expires_at});
    ++mine;
    ++count_;
    return {};
}

std::vector<StoredValue> MemoryStorage::get(const Key& key, base::TimePoint now, size_t max) const {
    std::vector<StoredValue> out;
    auto it = values_.find(key);
    if (it == values_.end()) return out;
    for (auto& v : it->second)
        if (v.expires_at > now) out.push_back(v);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.stored_at > b.stored_at; });
    if (out.size() > max) out.resize(max);
    return out;
}

base::TimePoint MemoryStorage::expire(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    for (auto it = values_.begin(); it != values_.end();) {
        auto& vec = it->second;
        for (auto v = vec.begin(); v != vec.end();) {
            if (v->expires_at <= now) {
                if (auto p = per_publisher_.find(v->publisher); p != per_publisher_.end() && --p->second == 0)
                    per_publisher_.erase(p);
                --count_;
                v = vec.erase(v);
            } else {
                next = std::min(next, v->expires_at);
                ++v;
            }
        }
        it = vec.empty() ? values_.erase(it) : std::next(it);
    }
    return next;
}

std::vector<std::pair<Key, StoredValue>> MemoryStorage::all() const {
    std::vector<std::pair<Key, StoredValue>> out;
    for (auto& [k, vec] : values_)
        for (auto& v : vec) out.emplace_back(k, v);
    return out;
}

}  // namespace dht
