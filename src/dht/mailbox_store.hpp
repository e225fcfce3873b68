#pragma once
// Items this node keeps in mailboxes for offline recipients: sealed envelopes that only the
// recipient can open. A mailbox is the set of items at one key (mailbox_key of its owner); an
// item is named by (sender, slot), so a sender can leave many and replace none of anyone else's.
// Quotas bound what one sender can make this node hold, in total and per mailbox, and what one
// mailbox can hold, so a stranger cannot fill the node (PROTOCOL.md §14).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/status.hpp"
#include "base/time.hpp"
#include "dht/config.hpp"
#include "dht/node_id.hpp"

namespace dht {

// The key at which `owner`'s mailbox lives: BLAKE2b-256("kadchat mailbox v1" | owner).
Key mailbox_key(const NodeId& owner);

struct MailboxItem {
    NodeId sender;
    std::string slot;
    std::string data;
    base::TimePoint stored_at{};
    base::TimePoint expires_at{};
};

class MailboxStore {
public:
    explicit MailboxStore(const Config& cfg) : cfg_{cfg} {}
    // Errc::too_large or Errc::limit (with the quota's name); on failure nothing changes.
    base::Status put(const Key& key, const NodeId& sender, const std::string& slot, std::string data,
                     base::TimePoint now, base::TimePoint expires_at);
    // Unexpired items at `key`, oldest first, until their data would exceed `max_bytes`.
    // After passing over the `skip` oldest (paging, PROTOCOL.md §14); `left` gets how many
    // unexpired items come after the ones returned.
    std::vector<MailboxItem> get(const Key& key, base::TimePoint now, size_t max_bytes, size_t skip = 0,
                                 size_t* left = nullptr) const;
    // Removes the named slots (of any sender) at `key`; returns how many were there.
    size_t remove(const Key& key, const std::vector<std::string>& slots);
    base::TimePoint expire(base::TimePoint now);
    size_t size() const { return count_; }
    size_t bytes() const { return bytes_; }
    std::vector<std::pair<Key, MailboxItem>> all() const;

private:
    using ItemKey = std::pair<NodeId, std::string>;  // (sender, slot)
    void erase_one(std::map<ItemKey, MailboxItem>& box, std::map<ItemKey, MailboxItem>::iterator it);

    const Config& cfg_;
    size_t count_ = 0, bytes_ = 0;
    std::map<Key, std::map<ItemKey, MailboxItem>> boxes_;
    std::map<NodeId, size_t> per_sender_;
};

}  // namespace dht
