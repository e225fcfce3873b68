#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <vector>

#include <sodium.h>

#include "base/hex.hpp"
#include "base/rng.hpp"
#include "crypto/address.hpp"
#include "crypto/envelope.hpp"
#include "crypto/key_file.hpp"
#include "crypto/sodium_rng.hpp"
#include "vectors.hpp"

using namespace crypto;

namespace {
std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}
void write_all(const std::string& p, const std::string& s) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
    chmod(p.c_str(), 0600);
}
}  // namespace

TEST_CASE("address: round trip, case and separators, and every typo caught") {
    auto alice = vectors::alice();
    std::string a = encode_address(alice.public_key);
    CHECK(a.size() == kAddressLength);
    CHECK(a.rfind("kc1", 0) == 0);
    // Computed independently (Python's base64 and hashlib) from PROTOCOL.md §11.
    CHECK(a == "kc1rkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5olw654xy");
    auto back = decode_address(a);
    REQUIRE(back);
    CHECK(*back == alice.public_key);
    std::string upper;
    for (char c : a) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    CHECK(decode_address(upper));
    CHECK(decode_address(a.substr(0, 20) + " - " + a.substr(20)));
    // Every single-character substitution after the prefix is rejected.
    const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    size_t caught = 0, tried = 0;
    for (size_t i = 3; i < a.size(); ++i) {
        for (char c : alphabet) {
            if (c == a[i]) continue;
            std::string t = a;
            t[i] = c;
            ++tried;
            caught += !decode_address(t);
        }
    }
    CHECK(caught == tried);
    // Transposed neighbours.
    for (size_t i = 3; i + 1 < a.size(); ++i) {
        if (a[i] == a[i + 1]) continue;
        std::string t = a;
        std::swap(t[i], t[i + 1]);
        CHECK_FALSE(decode_address(t));
    }
    CHECK(decode_address(a.substr(0, 60)).status().detail().find("60 characters") != std::string::npos);
    CHECK(decode_address("kc1" + std::string(58, '0')).status().detail().find("not in its alphabet") != std::string::npos);
    CHECK_FALSE(decode_address("xx1" + a.substr(3)));
    auto via_hex = parse_peer(base::to_hex(alice.public_key));
    REQUIRE(via_hex);
    CHECK(*via_hex == alice.public_key);
    CHECK(parse_peer(a));
}

TEST_CASE("key file with a passphrase: created encrypted, loaded only with the passphrase") {
    char tmpl[] = "/tmp/kadchat-enckey-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    std::string path = dir + "/identity.key";
    std::string pass = "correct horse battery staple", wrong = "correct horse battery stapler";
    KeyFileOptions opts{&pass, PwhashCost::minimum()};
    bool created = false;
    auto a = load_or_create_identity(path, created, opts);
    REQUIRE(a);
    CHECK(created);
    CHECK(is_encrypted_key_file(path));
    struct stat st{};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(read_all(path).size() == kEncryptedKeyFileSize);
    // The seed is not in the file.
    std::string raw = read_all(path);
    CHECK(raw.find(std::string(reinterpret_cast<const char*>(a->secret_key.data()), 32)) == std::string::npos);

    auto b = load_or_create_identity(path, created, opts);
    REQUIRE(b);
    CHECK_FALSE(created);
    CHECK(b->public_key == a->public_key);
    auto no_pass = load_identity(path);
    REQUIRE_FALSE(no_pass);
    CHECK(no_pass.status().detail().find("encrypted") != std::string::npos);
    auto bad = load_identity(path, &wrong);
    REQUIRE_FALSE(bad);
    CHECK(bad.status().detail().find("wrong passphrase") != std::string::npos);
    // Never regenerated: a failed load leaves the file as it was.
    CHECK(read_all(path) == raw);
    bool c2 = false;
    KeyFileOptions wrong_opts{&wrong, PwhashCost::minimum()};
    CHECK_FALSE(load_or_create_identity(path, c2, wrong_opts));
    CHECK(read_all(path) == raw);

    SUBCASE("every byte flipped and every truncation fails with a clear error") {
        for (size_t i = 0; i < raw.size(); ++i) {
            std::string t = raw;
            t[i] = static_cast<char>(t[i] ^ 0x01);
            write_all(path, t);
            auto r = load_identity(path, &pass);
            CHECK_FALSE(r);
            if (!r) CHECK_FALSE(r.status().detail().empty());
        }
        for (size_t len = 0; len < raw.size(); ++len) {
            write_all(path, raw.substr(0, len));
            CHECK_FALSE(load_identity(path, &pass));
        }
        write_all(path, raw);
        CHECK(load_identity(path, &pass));
    }
    SUBCASE("a key in the clear is encrypted when a passphrase is given") {
        std::string p2 = dir + "/plain.key";
        auto id = Identity::generate();
        REQUIRE(write_identity(p2, id).ok());
        CHECK_FALSE(is_encrypted_key_file(p2));
        bool cr = false;
        auto loaded = load_or_create_identity(p2, cr, opts);
        REQUIRE(loaded);
        CHECK(loaded->public_key == id.public_key);
        CHECK(is_encrypted_key_file(p2));
        CHECK(load_identity(p2, &pass));
        std::remove(p2.c_str());
    }
    std::remove(path.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("envelope: only the recipient opens it, and it proves the sender") {
    base::SeededRng rng{9};
    auto alice = vectors::alice(), bob = vectors::bob();
    auto carol = Identity::from_rng(rng);
    MessageId id{};
    id[0] = 7;
    auto env = seal_envelope(alice, bob.public_key, id, 1'700'000'000'123, bytes("meet at noon"), rng);
    REQUIRE(env);
    CHECK(env->size() == kEnvelopeOverhead + 12);
    EnvelopeOpener bob_opens{bob}, carol_opens{carol}, alice_opens{alice};
    auto l = bob_opens.open(*env);
    REQUIRE(l);
    CHECK(l->sender == alice.public_key);
    CHECK(l->recipient == bob.public_key);
    CHECK(l->id == id);
    CHECK(l->timestamp_ms == 1'700'000'000'123);
    CHECK(std::string(l->payload.begin(), l->payload.end()) == "meet at noon");
    // Not the recipient: nobody else can read it, not even the sender.
    CHECK_FALSE(carol_opens.open(*env));
    CHECK_FALSE(alice_opens.open(*env));
    CHECK(carol_opens.counts().undecryptable == 1);

    SUBCASE("every byte flipped, every truncation: rejected and counted") {
        EnvelopeOpener o{bob};
        for (size_t i = 0; i < env->size(); ++i) {
            auto t = *env;
            t[i] ^= 0x40;
            CHECK_FALSE(o.open(t));
        }
        for (size_t len = 0; len < env->size(); ++len) CHECK_FALSE(o.open(std::span{*env}.first(len)));
        auto& c = o.counts();
        CHECK(c.opened == 0);
        CHECK(c.malformed + c.undecryptable + c.forged == 2 * env->size());
    }
    SUBCASE("built by hand from the PROTOCOL.md description; then with a forged sender") {
        // An independent encoder, straight from libsodium: a correct one must open, and one that
        // names alice as the sender but carries carol's signature must be refused as forged.
        auto build = [&](const Identity& signer, const PublicKey& claimed) {
            unsigned char esk[32], epk[32], nonce[24], rx[32], shared[32], key[32];
            randombytes_buf(esk, 32);
            crypto_scalarmult_base(epk, esk);
            randombytes_buf(nonce, 24);
            REQUIRE(crypto_sign_ed25519_pk_to_curve25519(rx, bob.public_key.data()) == 0);
            REQUIRE(crypto_scalarmult(shared, esk, rx) == 0);
            const std::string label = "kadchat envelope key v1";
            crypto_generichash_state st;
            crypto_generichash_init(&st, shared, 32, 32);
            crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(label.data()), label.size());
            crypto_generichash_update(&st, epk, 32);
            crypto_generichash_update(&st, rx, 32);
            crypto_generichash_final(&st, key, 32);
            std::vector<uint8_t> ts{0, 0, 0, 0, 0, 0, 0, 42}, payload = bytes("by hand");
            std::string ctx = "kadchat envelope v1\n";
            std::vector<uint8_t> msg(ctx.begin(), ctx.end());
            msg.insert(msg.end(), bob.public_key.begin(), bob.public_key.end());
            msg.insert(msg.end(), epk, epk + 32);
            msg.insert(msg.end(), claimed.begin(), claimed.end());
            msg.insert(msg.end(), id.begin(), id.end());
            msg.insert(msg.end(), ts.begin(), ts.end());
            msg.insert(msg.end(), payload.begin(), payload.end());
            auto sig = sign(signer, msg);
            std::vector<uint8_t> plain(claimed.begin(), claimed.end());
            plain.insert(plain.end(), id.begin(), id.end());
            plain.insert(plain.end(), ts.begin(), ts.end());
            plain.insert(plain.end(), payload.begin(), payload.end());
            plain.insert(plain.end(), sig.begin(), sig.end());
            std::vector<uint8_t> ad{kEnvelopeVersion};
            ad.insert(ad.end(), epk, epk + 32);
            ad.insert(ad.end(), bob.public_key.begin(), bob.public_key.end());
            std::vector<uint8_t> out{kEnvelopeVersion};
            out.insert(out.end(), epk, epk + 32);
            out.insert(out.end(), nonce, nonce + 24);
            size_t at = out.size();
            out.resize(at + plain.size() + 16);
            unsigned long long len = 0;
            crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + at, &len, plain.data(), plain.size(), ad.data(),
                                                       ad.size(), nullptr, nonce, key);
            return out;
        };
        EnvelopeOpener o{bob};
        auto good = o.open(build(alice, alice.public_key));
        REQUIRE(good);
        CHECK(good->sender == alice.public_key);
        CHECK(good->timestamp_ms == 42);
        auto forged = o.open(build(carol, alice.public_key));
        REQUIRE_FALSE(forged);
        CHECK(forged.status().detail() == "envelope with a forged sender");
        CHECK(o.counts().forged == 1);
    }
}

TEST_CASE("SodiumRng: small draws from its pool never repeat, and large ones bypass it") {
    crypto::SodiumRng rng;
    std::set<std::array<uint8_t, 16>> seen;
    for (int i = 0; i < 20000; ++i) {  // 20,000 message IDs: 1,250 pool refills
        std::array<uint8_t, 16> id{};
        rng.fill(std::as_writable_bytes(std::span{id}));
        CHECK(seen.insert(id).second);
    }
    // Odd sizes that straddle a refill, and a key-sized and a bulk draw: none all zero.
    for (size_t n : {1, 7, 33, 64, 65, 255, 1000}) {
        std::vector<uint8_t> b(n, 0);
        rng.fill(std::as_writable_bytes(std::span{b}));
        if (n >= 16) CHECK(std::count(b.begin(), b.end(), uint8_t{0}) < static_cast<std::ptrdiff_t>(n / 4));
    }
}
