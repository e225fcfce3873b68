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
#include "crypto/keys.hpp"
#include "dht/config.hpp"
#include "dht/node_id.hpp"

namespace dht {

// The key at which `owner`'s mailbox lives: BLAKE2b-256("kadchat mailbox v1" | owner).
Key mailbox_key(const NodeId& owner);

// What an item's author signs (PROTOCOL.md §14, item signature): the mailbox key, the author,
// the slot, the expiry in Unix seconds and a hash of the data. The signature travels with the
// item, so that the nodes holding it can hand it on to new closest nodes after the author has
// gone offline, and no holder can forge, alter or prolong an item in anyone else's name.
std::string item_signed_bytes(const Key& key, const NodeId& author, std::string_view slot, uint32_t exp,
                              std::string_view data);

struct MailboxItem {
    NodeId sender;  // the author, proven by `sig`
    std::string slot;
    std::string data;
    base::TimePoint stored_at{};
    base::TimePoint expires_at{};
    uint32_t exp = 0;  // expires_at in Unix seconds, as signed
    crypto::Signature sig{};
    // When this node last received the item or handed it on: a holder hands on only items that
    // nobody has refreshed for a republish interval (Kademlia's republish optimisation).
    base::TimePoint refreshed_at{};
};

class MailboxStore {
public:
    explicit MailboxStore(const Config& cfg) : cfg_{cfg} {}
    // Errc::too_large or Errc::limit (with the quota's name); on failure nothing changes.
    // A put of an item already here refreshes it (and takes the later expiry with its signature).
    base::Status put(const Key& key, const NodeId& sender, const std::string& slot, std::string data,
                     base::TimePoint now, base::TimePoint expires_at, uint32_t exp = 0,
                     const crypto::Signature& sig = {});
    // Items of `key` nobody has refreshed since `before`; marks them refreshed at `now`.
    std::vector<MailboxItem> take_unrefreshed(const Key& key, base::TimePoint before, base::TimePoint now);
    std::vector<Key> keys() const;
    // Unexpired items at `key`, oldest first, until their data would exceed `max_bytes`.
    // After passing over the `skip` oldest (paging, PROTOCOL.md §14); `left` gets how many
    // unexpired items come after the ones returned.
    std::vector<MailboxItem> get(const Key& key, base::TimePoint now, size_t max_bytes, size_t skip = 0,
                                 size_t* left = nullptr) const;
    // Removes the named slots (of any sender) at `key`; returns how many were there. A removed
    // item is remembered until it would have expired, so that a holder that missed the removal
    // cannot hand it back here (bounded like the items themselves).
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
    std::map<std::pair<Key, ItemKey>, base::TimePoint> removed_;  // -> when it would have expired
};

}  // namespace dht
