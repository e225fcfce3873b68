#pragma once
// A mailbox item larger than one datagram carries travels as parts (PROTOCOL.md §14): a sealed
// 4,000-byte message is about 8 KB of hex, and every datagram must fit 1,200 bytes (§1). The
// parts are ordinary items named "<slot>.<i>/<n>", so storing nodes need no new rule; the owner
// joins them after fetching and removes them all when it removes <slot>.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dht/messages.hpp"

namespace dht {

// Characters of item data in one mbox_put or one mbox_get page: with the message's other
// members (IDs, token, slot, MAC) the datagram stays under kMaxDatagram.
inline constexpr size_t kMailboxPart = 640;
inline constexpr size_t kMaxMailboxParts = 64;

struct ItemPart {
    std::string slot;
    std::string data;
};
// `value` as one item named `slot` when it fits one part, else as parts "<slot>.<i>/<n>".
std::vector<ItemPart> split_item(const std::string& slot, const std::string& value);

struct JoinedItems {
    std::vector<ValueRecord> items;  // whole items, in the order their first part came
    // slot -> the part slots it was made of, for removal
    std::map<std::string, std::vector<std::string>> parts;
    size_t incomplete = 0;  // items with a part still missing (left for a later fetch)
};
// Joins the parts among `items` (same sender, same slot) into whole items. An item's TTL is its
// shortest part's. Items that are not parts pass through unchanged.
JoinedItems join_items(const std::vector<ValueRecord>& items);

}  // namespace dht
