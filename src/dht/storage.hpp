#pragma once
// Values this node holds for others. The interface states the contract; MemoryStorage is the
// only implementation so far (values do not survive a restart: publishers republish).
#include <map>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "base/time.hpp"
#include "dht/messages.hpp"

namespace dht {

struct StoredValue {
    NodeId publisher;
    std::string data;
    base::TimePoint stored_at{};
    base::TimePoint expires_at{};
};

class Storage {
public:
    virtual ~Storage() = default;
    // Stores or replaces the value `publisher` holds at `key`. Fails with Errc::limit when the
    // node-wide or per-publisher quota is reached, Errc::too_large for an oversized value;
    // on failure nothing changes.
    virtual base::Status put(const Key& key, const NodeId& publisher, std::string data,
                             base::TimePoint now, base::TimePoint expires_at) = 0;
    // Unexpired values at `key`, at most `max`, newest first.
    virtual std::vector<StoredValue> get(const Key& key, base::TimePoint now, size_t max) const = 0;
    // Drops expired values; returns the earliest remaining expiry (kNever if empty).
    virtual base::TimePoint expire(base::TimePoint now) = 0;
    virtual size_t size() const = 0;
    // Every key and its values, for inspection (`dht storage`).
    virtual std::vector<std::pair<Key, StoredValue>> all() const = 0;
};

class MemoryStorage final : public Storage {
public:
    MemoryStorage(size_t max_values, size_t max_per_publisher, size_t max_value_size);
    base::Status put(const Key& key, const NodeId& publisher, std::string data, base::TimePoint now,
                     base::TimePoint expires_at) override;
    std::vector<StoredValue> get(const Key& key, base::TimePoint now, size_t max) const override;
    base::TimePoint expire(base::TimePoint now) override;
    size_t size() const override { return count_; }
    std::vector<std::pair<Key, StoredValue>> all() const override;

private:
    size_t max_values_, max_per_publisher_, max_value_size_;
    size_t count_ = 0;
    std::map<Key, std::vector<StoredValue>> values_;
    std::map<NodeId, size_t> per_publisher_;
};

}  // namespace dht
