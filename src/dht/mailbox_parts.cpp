#include "dht/mailbox_parts.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace dht {

namespace {
struct PartName {
    std::string base;
    size_t index = 0, count = 0;
};

std::optional<size_t> number(std::string_view s) {
    size_t v = 0;
    if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// "<base>.<i>/<n>" with 0 <= i < n, 2 <= n <= kMaxMailboxParts; anything else is a whole item.
std::optional<PartName> part_name(const std::string& slot) {
    auto dot = slot.rfind('.');
    if (dot == std::string::npos || dot == 0) return std::nullopt;
    auto slash = slot.find('/', dot);
    if (slash == std::string::npos) return std::nullopt;
    auto i = number(std::string_view{slot}.substr(dot + 1, slash - dot - 1));
    auto n = number(std::string_view{slot}.substr(slash + 1));
    if (!i || !n || *n < 2 || *n > kMaxMailboxParts || *i >= *n) return std::nullopt;
    return PartName{slot.substr(0, dot), *i, *n};
}
}  // namespace

std::vector<ItemPart> split_item(const std::string& slot, const std::string& value) {
    if (value.size() <= kMailboxPart) return {{slot, value}};
    size_t n = (value.size() + kMailboxPart - 1) / kMailboxPart;
    std::vector<ItemPart> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i)
        out.push_back({slot + "." + std::to_string(i) + "/" + std::to_string(n), value.substr(i * kMailboxPart, kMailboxPart)});
    return out;
}

JoinedItems join_items(const std::vector<ValueRecord>& items) {
    struct Group {
        size_t count = 0, order = 0;
        std::vector<const ValueRecord*> parts;
    };
    JoinedItems out;
    std::map<std::pair<NodeId, std::string>, Group> groups;
    std::vector<std::pair<size_t, ValueRecord>> ordered;  // (position of first part, item)
    for (size_t k = 0; k < items.size(); ++k) {
        auto name = part_name(items[k].slot);
        if (!name) {
            ordered.emplace_back(k, items[k]);
            continue;
        }
        auto [it, fresh] = groups.try_emplace({items[k].publisher, name->base});
        Group& g = it->second;
        if (fresh) {
            g.count = name->count;
            g.order = k;
            g.parts.assign(name->count, nullptr);
        }
        if (g.count != name->count) continue;  // a part of another split of the same slot: ignored
        if (!g.parts[name->index]) g.parts[name->index] = &items[k];
    }
    for (auto& [key, g] : groups) {
        if (std::any_of(g.parts.begin(), g.parts.end(), [](auto* p) { return p == nullptr; })) {
            ++out.incomplete;
            continue;
        }
        ValueRecord whole{key.first, {}, g.parts[0]->ttl_s, key.second};
        auto& names = out.parts[key.second];
        for (auto* p : g.parts) {
            whole.data += p->data;
            whole.ttl_s = std::min(whole.ttl_s, p->ttl_s);
            names.push_back(p->slot);
        }
        ordered.emplace_back(g.order, std::move(whole));
    }
    std::stable_sort(ordered.begin(), ordered.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (auto& [pos, item] : ordered) out.items.push_back(std::move(item));
    return out;
}

}  // namespace dht
