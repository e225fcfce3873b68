#include <doctest/doctest.h>

#include <algorithm>

#include "dht/mailbox_parts.hpp"

namespace {
dht::NodeId id_of(uint8_t b) {
    dht::NodeId n;
    n.bytes().fill(b);
    return n;
}
}  // namespace

TEST_CASE("mailbox parts: a large item splits into parts that join back in any order") {
    std::string value;
    for (int i = 0; i < 8300; ++i) value += static_cast<char>('a' + i % 26);
    auto parts = dht::split_item("0011", value);
    REQUIRE(parts.size() == 13);
    CHECK(parts[0].slot == "0011.0/13");
    CHECK(parts[12].slot == "0011.12/13");
    for (auto& p : parts) CHECK(p.data.size() <= dht::kMailboxPart);
    std::vector<dht::ValueRecord> items;
    for (auto& p : parts) items.push_back({id_of(1), p.data, 600, p.slot});
    items[3].ttl_s = 100;
    std::reverse(items.begin(), items.end());
    items.push_back({id_of(2), "whole", 50, "abcd"});
    items.push_back(items[5]);  // a duplicate part (from a second holder) is harmless
    auto j = dht::join_items(items);
    REQUIRE(j.items.size() == 2);
    CHECK(j.items[0].slot == "0011");
    CHECK(j.items[0].data == value);
    CHECK(j.items[0].ttl_s == 100);
    CHECK(j.items[1].data == "whole");
    CHECK(j.incomplete == 0);
    REQUIRE(j.parts.count("0011"));
    CHECK(j.parts["0011"].size() == 13);

    SUBCASE("a missing part holds the item back") {
        items.erase(std::remove_if(items.begin(), items.end(), [](auto& v) { return v.slot == "0011.4/13"; }), items.end());
        auto k = dht::join_items(items);
        CHECK(k.items.size() == 1);
        CHECK(k.incomplete == 1);
    }
    SUBCASE("parts of the same slot from another sender stay apart") {
        for (auto& v : items)
            if (v.slot == "0011.4/13") v.publisher = id_of(3);
        auto k = dht::join_items(items);
        CHECK(k.items.size() == 1);
        CHECK(k.incomplete == 2);
    }
}

TEST_CASE("mailbox parts: a small item is one item under its own slot; odd names are whole items") {
    auto one = dht::split_item("s", "hello");
    REQUIRE(one.size() == 1);
    CHECK(one[0].slot == "s");
    for (const char* odd : {"x.3/2", "x.1/1", "x.01/2", ".0/2", "x.0/65", "x.a/2", "x.0/2/"}) {
        auto j = dht::join_items({{id_of(1), "d", 9, odd}});
        REQUIRE(j.items.size() == 1);
        CHECK(j.items[0].slot == odd);
        CHECK(j.incomplete == 0);
    }
}
