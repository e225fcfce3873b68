// The journal under crashes and damage: cut at every byte (what kill -9 mid-append can leave),
// a flipped byte in every position, and appends after each.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "chat/journal.hpp"

namespace {
std::string temp_dir() {
    char tmpl[] = "/tmp/kadchat-journal-XXXXXX";
    return mkdtemp(tmpl);
}
std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}
void write_all(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary | std::ios::trunc) << s; }
}  // namespace

TEST_CASE("journal: records survive reopening; the file is 0600") {
    auto dir = temp_dir();
    auto path = dir + "/history.jsonl";
    {
        chat::Journal::Recovered r;
        auto j = chat::Journal::open(path, r);
        REQUIRE(j);
        CHECK(r.records.empty());
        for (int i = 0; i < 3; ++i) REQUIRE(j->append(R"({"n":)" + std::to_string(i) + "}").ok());
        CHECK(j->append("two\nlines").code() == base::Errc::invalid_argument);
    }
    struct stat st{};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    chat::Journal::Recovered r;
    auto j = chat::Journal::open(path, r);
    REQUIRE(j);
    CHECK(r.problems.empty());
    CHECK(r.records == std::vector<std::string>{R"({"n":0})", R"({"n":1})", R"({"n":2})"});
    unlink(path.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("journal: a file cut at any byte keeps every whole record, and appends continue cleanly") {
    auto dir = temp_dir();
    auto path = dir + "/outbox.jsonl";
    {
        chat::Journal::Recovered r;
        auto j = chat::Journal::open(path, r);
        REQUIRE(j);
        for (int i = 0; i < 5; ++i) REQUIRE(j->append(R"({"msg":"m)" + std::to_string(i) + R"("})").ok());
    }
    std::string full = read_all(path);
    for (size_t len = 0; len <= full.size(); ++len) {
        write_all(path, full.substr(0, len));
        size_t whole = 0;
        for (size_t i = 0; i < len; ++i) whole += full[i] == '\n';
        // Cut just before a newline: the record itself is whole and is kept.
        bool only_newline_lost = len < full.size() && full[len] == '\n' && len > 0 && full[len - 1] != '\n';
        whole += only_newline_lost;
        chat::Journal::Recovered r;
        auto j = chat::Journal::open(path, r);
        REQUIRE(j);
        CHECK(r.records.size() == whole);
        bool torn = len > 0 && full[len - 1] != '\n' && !only_newline_lost;
        CHECK(r.problems.size() == (torn ? 1u : 0u));
        REQUIRE(j->append(R"({"msg":"after"})").ok());
        chat::Journal::Recovered again;
        auto j2 = chat::Journal::open(path, again);
        REQUIRE(j2);
        CHECK(again.problems.size() == (torn ? 1u : 0u));  // the torn line stays, reported
        CHECK(again.records.size() == whole + 1);
        CHECK(again.records.back() == R"({"msg":"after"})");
    }
    unlink(path.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("journal: a damaged line is reported and skipped, the others kept") {
    auto dir = temp_dir();
    auto path = dir + "/history.jsonl";
    {
        chat::Journal::Recovered r;
        auto j = chat::Journal::open(path, r);
        REQUIRE(j);
        for (int i = 0; i < 3; ++i) REQUIRE(j->append(R"({"text":"hello )" + std::to_string(i) + R"("})").ok());
    }
    std::string full = read_all(path);
    size_t first_nl = full.find('\n');
    for (size_t i = 0; i < full.size(); ++i) {
        if (full[i] == '\n' && i + 1 != full.size()) continue;  // (a lost inner newline merges two lines)
        std::string bad = full;
        bad[i] = static_cast<char>(bad[i] ^ 0x01);
        write_all(path, bad);
        chat::Journal::Recovered r;
        auto j = chat::Journal::open(path, r);
        REQUIRE(j);
        CHECK(r.records.size() == 2);
        REQUIRE(r.problems.size() == 1);
        if (i < first_nl) CHECK(r.problems[0] == "line 1: checksum mismatch, skipped");
    }
    unlink(path.c_str());
    rmdir(dir.c_str());
}

// A full disk, injected: RLIMIT_FSIZE makes write() stop part-way through a line and then fail
// (EFBIG), as ENOSPC does (LevelDB tests this with a faulty Env; a process-wide limit is ours).
TEST_CASE("journal: an append that fails part-way leaves the file as it was; later appends are clean") {
    auto dir = temp_dir();
    auto path = dir + "/outbox.log";
    chat::Journal::Recovered r;
    auto j = chat::Journal::open(path, r);
    REQUIRE(j);
    REQUIRE(j->append(R"({"n":1})").ok());
    auto before = read_all(path);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    rlimit small = old;
    small.rlim_cur = before.size() + 40;  // room for part of the next line only
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    auto st = j->append(R"({"n":2,"text":")" + std::string(200, 'x') + R"("})");
    REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
    std::signal(SIGXFSZ, old_handler);
    CHECK(st.code() == base::Errc::io);
    CHECK(read_all(path) == before);  // no torn line left behind
    // Space is back: the next record starts clean, and nothing is reported damaged.
    REQUIRE(j->append(R"({"n":3})").ok());
    chat::Journal::Recovered again;
    auto k = chat::Journal::open(path, again);
    REQUIRE(k);
    CHECK(again.problems.empty());
    CHECK(again.records == std::vector<std::string>{R"({"n":1})", R"({"n":3})"});
    unlink(path.c_str());
    rmdir(dir.c_str());
}
