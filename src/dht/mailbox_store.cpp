#include "dht/mailbox_store.hpp"

#include <algorithm>

namespace dht {

Key mailbox_key(const NodeId& owner) {
    std::string text = "kadchat mailbox v1";
    text.append(reinterpret_cast<const char*>(owner.bytes().data()), owner.bytes().size());
    return NodeId::hash_of(text);
}

std::string item_signed_bytes(const Key& key, const NodeId& author, std::string_view slot, uint32_t exp,
                              std::string_view data) {
    std::string out = "kadchat mbox item v1";
    out.append(reinterpret_cast<const char*>(key.bytes().data()), key.bytes().size());
    out.append(reinterpret_cast<const char*>(author.bytes().data()), author.bytes().size());
    out.push_back(static_cast<char>(slot.size()));
    out.append(slot);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((exp >> shift) & 0xff));
    auto h = NodeId::hash_of(data);
    out.append(reinterpret_cast<const char*>(h.bytes().data()), h.bytes().size());
    return out;
}

base::Status MailboxStore::put(const Key& key, const NodeId& sender, const std::string& slot, std::string data,
                               base::TimePoint now, base::TimePoint expires_at, uint32_t exp,
                               const crypto::Signature& sig) {
    if (data.size() > cfg_.max_mailbox_item)
        return {base::Errc::too_large, "item of " + std::to_string(data.size()) + " bytes exceeds the limit of " +
                                           std::to_string(cfg_.max_mailbox_item)};
    if (auto r = removed_.find({key, {sender, slot}}); r != removed_.end()) {
        if (expires_at <= r->second) return {};  // a copy of what the recipient took: drop it
        removed_.erase(r);                       // the author put it anew
    }
    auto& box = boxes_[key];
    auto it = box.find({sender, slot});
    if (it != box.end()) {  // a resend of the same item: refresh it, counts unchanged
        auto& item = it->second;
        item.refreshed_at = now;
        // An older copy (a holder handing on what the author has since replaced) changes nothing.
        if (expires_at < item.expires_at) return {};
        bytes_ = bytes_ - item.data.size() + data.size();
        item.data = std::move(data);
        item.expires_at = expires_at;
        item.exp = exp;
        item.sig = sig;
        return {};
    }
    auto refuse = [&](std::string why) {
        if (box.empty()) boxes_.erase(key);
        return base::Status{base::Errc::limit, std::move(why)};
    };
    if (count_ >= cfg_.max_mailbox_items) return refuse("mailbox storage full on this node");
    if (box.size() >= cfg_.max_items_per_mailbox) return refuse("this mailbox is full");
    auto& mine = per_sender_[sender];
    if (mine >= cfg_.max_items_per_sender) return refuse("sender quota reached");
    ++mine;
    ++count_;
    bytes_ += data.size();
    box.emplace(ItemKey{sender, slot}, MailboxItem{sender, slot, std::move(data), now, expires_at, exp, sig, now});
    return {};
}

std::vector<MailboxItem> MailboxStore::take_unrefreshed(const Key& key, base::TimePoint before, base::TimePoint now) {
    std::vector<MailboxItem> out;
    auto it = boxes_.find(key);
    if (it == boxes_.end()) return out;
    for (auto& [k, item] : it->second) {
        if (item.refreshed_at > before || item.expires_at <= now) continue;
        item.refreshed_at = now;
        out.push_back(item);
    }
    return out;
}

std::vector<Key> MailboxStore::keys() const {
    std::vector<Key> out;
    for (auto& [key, box] : boxes_) out.push_back(key);
    return out;
}

std::vector<MailboxItem> MailboxStore::get(const Key& key, base::TimePoint now, size_t max_bytes, size_t skip,
                                           size_t* left) const {
    std::vector<MailboxItem> out;
    if (left) *left = 0;
    auto it = boxes_.find(key);
    if (it == boxes_.end()) return out;
    for (auto& [k, item] : it->second)
        if (item.expires_at > now) out.push_back(item);
    // Oldest first; ties in (sender, slot) order, so that pages follow one another.
    std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.stored_at < b.stored_at; });
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(std::min(skip, out.size())));
    size_t used = 0, n = 0;
    for (; n < out.size(); ++n) {
        used += out[n].data.size() + out[n].slot.size() + 100;  // + the record's framing
        if (used > max_bytes && n > 0) break;
    }
    if (left) *left = out.size() - n;
    out.resize(n);
    return out;
}

void MailboxStore::erase_one(std::map<ItemKey, MailboxItem>& box, std::map<ItemKey, MailboxItem>::iterator it) {
    if (auto p = per_sender_.find(it->second.sender); p != per_sender_.end() && --p->second == 0)
        per_sender_.erase(p);
    --count_;
    bytes_ -= it->second.data.size();
    box.erase(it);
}

size_t MailboxStore::remove(const Key& key, const std::vector<std::string>& slots) {
    auto b = boxes_.find(key);
    if (b == boxes_.end()) return 0;
    size_t removed = 0;
    auto& box = b->second;
    for (auto it = box.begin(); it != box.end();) {
        auto next = std::next(it);
        if (std::find(slots.begin(), slots.end(), it->second.slot) != slots.end()) {
            if (removed_.size() < cfg_.max_mailbox_items) removed_[{key, it->first}] = it->second.expires_at;
            erase_one(box, it);
            ++removed;
        }
        it = next;
    }
    if (box.empty()) boxes_.erase(b);
    return removed;
}

base::TimePoint MailboxStore::expire(base::TimePoint now) {
    base::TimePoint next = base::kNever;
    std::erase_if(removed_, [&](auto& r) { return r.second <= now; });
    for (auto& [k, until] : removed_) next = std::min(next, until);
    for (auto b = boxes_.begin(); b != boxes_.end();) {
        auto& box = b->second;
        for (auto it = box.begin(); it != box.end();) {
            auto nx = std::next(it);
            if (it->second.expires_at <= now)
                erase_one(box, it);
            else
                next = std::min(next, it->second.expires_at);
            it = nx;
        }
        b = box.empty() ? boxes_.erase(b) : std::next(b);
    }
    return next;
}

std::vector<std::pair<Key, MailboxItem>> MailboxStore::all() const {
    std::vector<std::pair<Key, MailboxItem>> out;
    for (auto& [k, box] : boxes_)
        for (auto& [ik, item] : box) out.emplace_back(k, item);
    return out;
}

}  // namespace dht
