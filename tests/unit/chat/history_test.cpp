// The history view: the peer's messages in the order the peer wrote them, whatever order they
// arrived in (#13 §3: nine messages resent after a full disk were listed 11, 15, 8, 12, ...), and
// the same after reopening.
#include <doctest/doctest.h>
#include <unistd.h>

#include "chat/history.hpp"
#include "chat/outbox.hpp"

namespace {
chat::Entry entry(uint8_t n, bool incoming, uint64_t seq) {
    chat::Entry e;
    e.id[0] = n;
    e.from[0] = incoming ? 1 : 2;
    e.to[0] = incoming ? 2 : 1;
    e.text = (incoming ? "in" : "out") + std::to_string(seq);
    e.seq = seq;
    e.incoming = incoming;
    e.status = incoming ? "received" : "sending";
    return e;
}
std::vector<std::string> texts(const chat::History& h, const chat::PublicKey& peer) {
    std::vector<std::string> out;
    for (auto& e : h.conversation(peer)) out.push_back(e.text);
    return out;
}
}  // namespace

TEST_CASE("history: a late message from the peer goes where the peer wrote it, and stays there after reopening") {
    char tmpl[] = "/tmp/kadchat-history-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    chat::PublicKey peer{};
    peer[0] = 1;
    {
        std::vector<std::string> problems;
        auto h = chat::History::open(dir, problems);
        REQUIRE(h);
        // Arrival order: in1, out1, in2, out2, in5, in3 (late), in4 (late).
        REQUIRE(h->add(peer, entry(1, true, 1)).ok());
        REQUIRE(h->add(peer, entry(2, false, 1)).ok());
        REQUIRE(h->add(peer, entry(3, true, 2)).ok());
        REQUIRE(h->add(peer, entry(4, false, 2)).ok());
        REQUIRE(h->add(peer, entry(5, true, 5)).ok());
        REQUIRE(h->add(peer, entry(6, true, 3)).ok());
        REQUIRE(h->add(peer, entry(7, true, 4)).ok());
        CHECK(texts(*h, peer) == std::vector<std::string>{"in1", "out1", "in2", "out2", "in3", "in4", "in5"});
        // Lookups by id follow the moved entries.
        REQUIRE(h->set_status(peer, entry(4, false, 2).id, "delivered").ok());
        CHECK(h->find(peer, entry(4, false, 2).id)->status == "delivered");
        CHECK(h->find(peer, entry(5, true, 5).id)->text == "in5");
        CHECK(h->next_seq(peer) == 3);
    }
    std::vector<std::string> problems;
    auto h = chat::History::open(dir, problems);
    REQUIRE(h);
    CHECK(problems.empty());
    CHECK(texts(*h, peer) == std::vector<std::string>{"in1", "out1", "in2", "out2", "in3", "in4", "in5"});
    CHECK(h->find(peer, entry(4, false, 2).id)->status == "delivered");
    std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("history and outbox records: any text survives the file, field for field, after reopening") {
    char tmpl[] = "/tmp/kadchat-history-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    chat::PublicKey peer{};
    peer[0] = 1;
    const std::vector<std::string> awkward = {"quote \" backslash \\ slash /", "line\nbreak\ttab\r", std::string("nul\0byte", 8),
                                              "\x01\x1f control", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
                                              "{\"op\":\"done\"}", "  "};
    {
        std::vector<std::string> problems;
        auto h = chat::History::open(dir, problems);
        auto o = chat::Outbox::open(dir + "/outbox.log", problems);
        REQUIRE(h);
        REQUIRE(o);
        for (size_t i = 0; i < awkward.size(); ++i) {
            auto e = entry(static_cast<uint8_t>(i + 1), i % 2 == 0, i + 1);
            e.text = awkward[i];
            e.ts_ms = 1'800'000'000'000 + i;
            REQUIRE(h->add(peer, e).ok());
            chat::OutboxItem it;
            it.id = e.id;
            it.to = peer;
            it.text = awkward[i];
            it.ts_ms = e.ts_ms;
            it.seq = e.seq;
            it.expires_ms = e.ts_ms + 1000;
            REQUIRE(o->add(it).ok());
        }
        REQUIRE(h->set_status(peer, entry(2, false, 2).id, "delivered").ok());
        REQUIRE(o->finish(entry(2, false, 2).id, "delivered").ok());
    }
    std::vector<std::string> problems;
    auto h = chat::History::open(dir, problems);
    auto o = chat::Outbox::open(dir + "/outbox.log", problems);
    REQUIRE(h);
    REQUIRE(o);
    CHECK(problems.empty());
    auto conv = h->conversation(peer);
    REQUIRE(conv.size() == awkward.size());
    for (size_t i = 0; i < awkward.size(); ++i) {
        const chat::Entry* e = h->find(peer, entry(static_cast<uint8_t>(i + 1), i % 2 == 0, i + 1).id);
        REQUIRE(e);
        CHECK(e->text == awkward[i]);
        CHECK(e->ts_ms == 1'800'000'000'000 + i);
        CHECK(e->seq == i + 1);
        CHECK(e->incoming == (i % 2 == 0));
    }
    CHECK(h->find(peer, entry(2, false, 2).id)->status == "delivered");
    REQUIRE(o->size() == awkward.size() - 1);  // one finished
    for (auto* it : o->pending()) {
        size_t i = it->id[0] - 1u;
        CHECK(it->text == awkward[i]);
        CHECK(it->to == peer);
        CHECK(it->seq == i + 1);
        CHECK(it->expires_ms == 1'800'000'000'000 + i + 1000);
        CHECK(it->envelope.empty());
    }
    std::system(("rm -rf " + dir).c_str());
}
