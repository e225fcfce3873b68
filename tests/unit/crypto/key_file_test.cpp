#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "crypto/key_file.hpp"
#include "crypto/pairwise_keys.hpp"
#include "temp_dir.hpp"

namespace {
std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}
void write_all(const std::string& p, const std::string& s) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}
}  // namespace

TEST_CASE("key file: created 0600 on first start, loaded unchanged after") {
    testing::TempDir tmp{"keytest"};
    auto dir = tmp.path;
    auto path = dir + "/identity.key";
    bool created = false;
    auto a = crypto::load_or_create_identity(path, created);
    REQUIRE(a);
    CHECK(created);
    struct stat st{};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto b = crypto::load_or_create_identity(path, created);
    REQUIRE(b);
    CHECK_FALSE(created);
    CHECK(a->public_key == b->public_key);
}

TEST_CASE("key file: corrupt, truncated or exposed files are errors, never regenerated") {
    testing::TempDir tmp{"keytest"};
    auto dir = tmp.path;
    auto path = dir + "/identity.key";
    bool created = false;
    REQUIRE(crypto::load_or_create_identity(path, created));
    std::string good = read_all(path);
    REQUIRE(good.size() == crypto::kKeyFileSize);

    SUBCASE("truncated at every length") {
        for (size_t n = 0; n < good.size(); ++n) {
            write_all(path, good.substr(0, n));
            auto r = crypto::load_or_create_identity(path, created);
            CHECK_FALSE(r);
            CHECK_FALSE(created);
            CHECK(read_all(path) == good.substr(0, n));  // left as it was for the user to inspect
        }
    }
    SUBCASE("every byte flipped") {
        for (size_t i = 0; i < good.size(); ++i) {
            std::string bad = good;
            bad[i] ^= 0x20;
            write_all(path, bad);
            auto r = crypto::load_or_create_identity(path, created);
            INFO("byte " << i);
            CHECK_FALSE(r);
            CHECK(r.status().code() == base::Errc::malformed);
        }
    }
    SUBCASE("readable by others") {
        chmod(path.c_str(), 0644);
        auto r = crypto::load_or_create_identity(path, created);
        CHECK_FALSE(r);
        CHECK(r.status().code() == base::Errc::permission);
        CHECK(r.status().detail().find("chmod 600") != std::string::npos);
    }
    SUBCASE("a directory in its place") {
        unlink(path.c_str());
        mkdir(path.c_str(), 0700);
        CHECK_FALSE(crypto::load_or_create_identity(path, created));
        rmdir(path.c_str());
    }
}

TEST_CASE("pairwise keys: both sides derive the same MAC; a third party does not") {
    auto a = crypto::Identity::generate(), b = crypto::Identity::generate(), c = crypto::Identity::generate();
    crypto::PairwiseKeys ka{a, 4}, kb{b, 4}, kc{c, 4};
    std::string msg = "datagram";
    std::span<const uint8_t> m{reinterpret_cast<const uint8_t*>(msg.data()), msg.size()};
    auto ab = ka.mac(b.public_key, m), ba = kb.mac(a.public_key, m), cb = kc.mac(b.public_key, m);
    REQUIRE(ab);
    REQUIRE(ba);
    CHECK(*ab == *ba);
    CHECK(*cb != *ab);
    CHECK(ka.agreements() == 1);
    (void)ka.mac(b.public_key, m);
    CHECK(ka.agreements() == 1);  // cached
    crypto::PublicKey bogus{};
    bogus.fill(0);  // small-order point: not a usable key
    CHECK_FALSE(ka.mac(bogus, m));
}

TEST_CASE("pairwise keys: a full cache evicts the least recently used peer") {
    auto self = crypto::Identity::generate();
    auto p1 = crypto::Identity::generate(), p2 = crypto::Identity::generate(), p3 = crypto::Identity::generate();
    crypto::PairwiseKeys k{self, 2};
    std::string msg = "m";
    std::span<const uint8_t> m{reinterpret_cast<const uint8_t*>(msg.data()), msg.size()};
    auto first = k.mac(p1.public_key, m);
    (void)k.mac(p2.public_key, m);
    (void)k.mac(p1.public_key, m);  // p1 is now more recent than p2
    (void)k.mac(p3.public_key, m);  // evicts p2
    CHECK(k.size() == 2);
    CHECK(k.agreements() == 3);
    CHECK(k.mac(p1.public_key, m) == first);
    CHECK(k.agreements() == 3);
    (void)k.mac(p2.public_key, m);  // recomputed
    CHECK(k.agreements() == 4);
}
