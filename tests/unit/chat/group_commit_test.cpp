// Group commit: held work waits for the batch that holds what it depends on, runs in order,
// and learns when the sync failed; journals that defer their syncs stay readable and whole.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "chat/group_commit.hpp"
#include "chat/journal.hpp"

namespace {
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/kadchat-commit-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator+(const char* name) const { return path + name; }
};
chat::Journal open_journal(const std::string& path) {
    chat::Journal::Recovered r;
    auto j = chat::Journal::open(path, r);
    REQUIRE(j.ok());
    return std::move(*j);
}
void close_all(const std::vector<int>& fds) {
    for (int fd : fds) ::close(fd);
}
}  // namespace

TEST_CASE("group commit: nothing written, nothing to wait for") {
    chat::GroupCommit g;
    bool ran = false;
    g.after_durable([&](bool ok) { ran = ok; });
    CHECK(ran);
    CHECK(g.idle());
    CHECK_FALSE(g.due());
}

TEST_CASE("group commit: held work waits for its batch, in order; later writes go to the next batch") {
    TempDir dir;
    chat::GroupCommit g;
    int marks = 0;
    g.on_dirty = [&] { ++marks; };
    auto a = open_journal(dir + "/a.log");
    auto b = open_journal(dir + "/b.log");
    a.defer_sync(&g);
    b.defer_sync(&g);
    std::vector<std::string> ran;

    REQUIRE(a.append("one").ok());
    REQUIRE(b.append("two").ok());
    REQUIRE(a.append("three").ok());
    CHECK(marks == 1);  // told once, when the first journal became dirty
    g.after_durable([&](bool ok) { ran.push_back(ok ? "first" : "FAILED"); });
    g.after_durable([&](bool ok) { ran.push_back(ok ? "second" : "FAILED"); });
    CHECK(ran.empty());
    REQUIRE(g.due());
    auto fds = g.begin();
    CHECK(fds.size() == 2);  // one sync per journal, however many records
    CHECK(g.in_flight());
    CHECK_FALSE(g.due());

    // Nothing new written: this depends only on the batch in flight.
    g.after_durable([&](bool ok) { ran.push_back(ok ? "rides along" : "FAILED"); });
    // A write during the sync: what follows it waits for the next batch.
    REQUIRE(b.append("four").ok());
    g.after_durable([&](bool ok) { ran.push_back(ok ? "next batch" : "FAILED"); });
    CHECK(ran.empty());

    for (int fd : fds) CHECK(::fdatasync(fd) == 0);
    close_all(fds);
    g.finish(true);
    CHECK(ran == std::vector<std::string>{"first", "second", "rides along"});
    REQUIRE(g.due());
    REQUIRE(g.sync_now().ok());
    CHECK(ran.back() == "next batch");
    CHECK(g.idle());
    CHECK(g.counts().records == 4);
    CHECK(g.counts().batches == 2);
    CHECK(g.counts().syncs == 3);
    CHECK(g.counts().failures == 0);

    auto again = [&](const std::string& p) {
        chat::Journal::Recovered r;
        REQUIRE(chat::Journal::open(p, r).ok());
        CHECK(r.problems.empty());
        return r.records;
    };
    CHECK(again(dir + "/a.log") == std::vector<std::string>{"one", "three"});
    CHECK(again(dir + "/b.log") == std::vector<std::string>{"two", "four"});
}

TEST_CASE("group commit: a failed sync is reported to everything that waited on it") {
    TempDir dir;
    chat::GroupCommit g;
    auto a = open_journal(dir + "/a.log");
    a.defer_sync(&g);
    REQUIRE(a.append("x").ok());
    std::vector<bool> seen;
    g.after_durable([&](bool ok) { seen.push_back(ok); });
    close_all(g.begin());
    g.finish(false);
    CHECK(seen == std::vector<bool>{false});
    CHECK(g.counts().failures == 1);
    // The next batch is judged on its own.
    REQUIRE(a.append("y").ok());
    g.after_durable([&](bool ok) { seen.push_back(ok); });
    REQUIRE(g.sync_now().ok());
    CHECK(seen == std::vector<bool>{false, true});
}

TEST_CASE("group commit: a journal closed before its batch is synced is still synced") {
    TempDir dir;
    chat::GroupCommit g;
    {
        auto a = open_journal(dir + "/a.log");
        a.defer_sync(&g);
        REQUIRE(a.append("kept").ok());
    }  // closed; the batch holds its own descriptor
    // Another journal may now get the same descriptor number: it is a different journal.
    auto b = open_journal(dir + "/b.log");
    b.defer_sync(&g);
    REQUIRE(b.append("other").ok());
    auto fds = g.begin();
    CHECK(fds.size() == 2);
    for (int fd : fds) CHECK(::fdatasync(fd) == 0);
    close_all(fds);
    g.finish(true);
    chat::Journal::Recovered r;
    REQUIRE(chat::Journal::open(dir + "/a.log", r).ok());
    CHECK(r.records == std::vector<std::string>{"kept"});
}

TEST_CASE("group commit: a deferred append that fails still leaves the file as it was") {
    TempDir dir;
    chat::GroupCommit g;
    auto a = open_journal(dir + "/a.log");
    a.defer_sync(&g);
    CHECK_FALSE(a.append("two\nlines").ok());  // refused before anything is written
    CHECK(g.idle());
    REQUIRE(a.append("fine").ok());
    REQUIRE(g.sync_now().ok());
    chat::Journal::Recovered r;
    REQUIRE(chat::Journal::open(dir + "/a.log", r).ok());
    CHECK(r.records == std::vector<std::string>{"fine"});
}
