#include "crypto/key_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace crypto {

namespace {
constexpr char kMagic[8] = {'K', 'C', 'I', 'D', 'K', 'E', 'Y', '1'};
constexpr char kEncMagic[8] = {'K', 'C', 'I', 'D', 'E', 'N', 'C', '1'};
constexpr uint64_t kMaxOps = 64;                // bounds on a file's claimed cost: a doctored
constexpr uint64_t kMaxMem = uint64_t{4} << 30;  // file must not make us allocate without limit

void put_u64be(uint8_t* p, uint64_t v) {
    for (int i = 7; i >= 0; --i) p[7 - i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_u64be(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

bool derive_key(const std::string& passphrase, const uint8_t* salt, uint64_t ops, uint64_t mem, uint8_t key[32]) {
    return crypto_pwhash(key, 32, passphrase.data(), passphrase.size(), salt, ops, static_cast<size_t>(mem),
                         crypto_pwhash_ALG_ARGON2ID13) == 0;
}

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};
}  // namespace

base::Result<Identity> load_identity(const std::string& path, const std::string* passphrase) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (f.fd < 0) {
        if (errno == ENOENT) return base::Status{base::Errc::not_found, "no key file at " + path};
        return base::io_error(errno_text("cannot open key file", path));
    }
    struct stat st{};
    if (fstat(f.fd, &st) != 0) return base::io_error(errno_text("cannot stat key file", path));
    if (!S_ISREG(st.st_mode))
        return base::Status{base::Errc::invalid_argument, "key file " + path + " is not a regular file"};
    if (st.st_mode & 077) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return base::Status{base::Errc::permission,
                            "key file " + path + " has mode " + mode +
                                "; it must be readable by its owner only (chmod 600 " + path + ")"};
    }
    std::array<uint8_t, kEncryptedKeyFileSize + 1> buf{};
    ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0) return base::io_error(errno_text("cannot read key file", path));
    auto wipe = [&] { sodium_memzero(buf.data(), buf.size()); };
    auto size = static_cast<size_t>(n);
    if (size >= 8 && std::memcmp(buf.data(), kEncMagic, 8) == 0) {
        if (size != kEncryptedKeyFileSize)
            return base::malformed("encrypted key file " + path + " is " + std::to_string(n) + " bytes, expected " +
                                   std::to_string(kEncryptedKeyFileSize) + " (truncated or corrupt)");
        if (!passphrase)
            return base::Status{base::Errc::permission,
                                "key file " + path + " is encrypted: give --passphrase-file FILE, or start kadchat on a "
                                "terminal to be asked for the passphrase"};
        const uint8_t* salt = buf.data() + 8;
        uint64_t ops = get_u64be(buf.data() + 24), mem = get_u64be(buf.data() + 32);
        // Argon2 counts memory in KiB: a byte count that is not a multiple of 1024 is not one we
        // wrote, and would derive the same key as its rounded value (an undetected change).
        if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > kMaxOps || mem < crypto_pwhash_MEMLIMIT_MIN || mem > kMaxMem ||
            mem % 1024 != 0)
            return base::malformed("encrypted key file " + path + " has an implausible Argon2 cost (corrupt)");
        uint8_t key[32];
        if (!derive_key(*passphrase, salt, ops, mem, key))
            return base::Status{base::Errc::limit, "not enough memory to derive the key-file key"};
        uint8_t plain[64];
        bool ok = crypto_secretbox_open_easy(plain, buf.data() + 64, 64 + 16, buf.data() + 40, key) == 0;
        sodium_memzero(key, sizeof key);
        if (!ok) return base::Status{base::Errc::crypto, "wrong passphrase for " + path + " (or the file is corrupt)"};
        Identity id = Identity::from_seed(std::span<const uint8_t, kSeedSize>{plain, kSeedSize});
        bool match = std::memcmp(id.public_key.data(), plain + 32, 32) == 0;
        sodium_memzero(plain, sizeof plain);
        if (!match) return base::malformed("key file " + path + ": public key does not match the seed (corrupt)");
        return id;
    }
    if (size != kKeyFileSize) {
        wipe();
        return base::malformed("key file " + path + " is " + std::to_string(n) + " bytes, expected " +
                               std::to_string(kKeyFileSize) + " (truncated or not a kadchat key)");
    }
    if (std::memcmp(buf.data(), kMagic, sizeof kMagic) != 0) {
        wipe();
        return base::malformed("key file " + path + " does not start with KCIDKEY1 or KCIDENC1 (not a kadchat key)");
    }
    Mac check{};
    crypto_generichash(check.data(), check.size(), buf.data(), 72, nullptr, 0);
    if (sodium_memcmp(check.data(), buf.data() + 72, check.size()) != 0) {
        wipe();
        return base::malformed("key file " + path + " fails its checksum (corrupt)");
    }
    std::span<const uint8_t, kSeedSize> seed{buf.data() + 8, kSeedSize};
    Identity id = Identity::from_seed(seed);
    bool match = std::memcmp(id.public_key.data(), buf.data() + 40, 32) == 0;
    wipe();
    if (!match) return base::malformed("key file " + path + ": public key does not match the seed (corrupt)");
    return id;
}

bool is_encrypted_key_file(const std::string& path) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (f.fd < 0) return false;
    char magic[8];
    return ::read(f.fd, magic, 8) == 8 && std::memcmp(magic, kEncMagic, 8) == 0;
}

base::Status write_identity(const std::string& path, const Identity& id, const KeyFileOptions& opts, bool replace) {
    std::vector<uint8_t> buf;
    if (opts.passphrase) {
        buf.resize(kEncryptedKeyFileSize);
        std::memcpy(buf.data(), kEncMagic, 8);
        randombytes_buf(buf.data() + 8, 16);
        put_u64be(buf.data() + 24, opts.cost.opslimit);
        put_u64be(buf.data() + 32, opts.cost.memlimit);
        randombytes_buf(buf.data() + 40, 24);
        uint8_t key[32];
        if (!derive_key(*opts.passphrase, buf.data() + 8, opts.cost.opslimit, opts.cost.memlimit, key))
            return base::Status{base::Errc::limit, "not enough memory to derive the key-file key"};
        uint8_t plain[64];
        std::memcpy(plain, id.secret_key.data(), 32);
        std::memcpy(plain + 32, id.public_key.data(), 32);
        crypto_secretbox_easy(buf.data() + 64, plain, sizeof plain, buf.data() + 40, key);
        sodium_memzero(plain, sizeof plain);
        sodium_memzero(key, sizeof key);
    } else {
        buf.resize(kKeyFileSize);
        std::memcpy(buf.data(), kMagic, sizeof kMagic);
        std::memcpy(buf.data() + 8, id.secret_key.data(), kSeedSize);  // libsodium sk = seed || pk
        std::memcpy(buf.data() + 40, id.public_key.data(), 32);
        crypto_generichash(buf.data() + 72, 16, buf.data(), 72, nullptr, 0);
    }

    std::string tmp = path + ".tmp";
    ::unlink(tmp.c_str());
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
    if (f.fd < 0) {
        sodium_memzero(buf.data(), buf.size());
        return base::io_error(errno_text("cannot create key file", tmp));
    }
    ssize_t n = ::write(f.fd, buf.data(), buf.size());
    sodium_memzero(buf.data(), buf.size());
    if (n != static_cast<ssize_t>(buf.size()) || ::fsync(f.fd) != 0) {
        ::unlink(tmp.c_str());
        return base::io_error(errno_text("cannot write key file", tmp));
    }
    if (replace) {
        if (::rename(tmp.c_str(), path.c_str()) != 0) {
            auto st = base::io_error(errno_text("cannot replace key file", path));
            ::unlink(tmp.c_str());
            return st;
        }
        return {};
    }
    // link() fails if a key appeared meanwhile, so a racing second node never overwrites it.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
        auto st = base::io_error(errno_text("cannot install key file", path));
        ::unlink(tmp.c_str());
        return st;
    }
    ::unlink(tmp.c_str());
    return {};
}

base::Result<Identity> load_or_create_identity(const std::string& path, bool& created, const KeyFileOptions& opts) {
    created = false;
    auto loaded = load_identity(path, opts.passphrase);
    if (loaded) {
        if (opts.passphrase && !is_encrypted_key_file(path)) {
            // Asked for a passphrase while the key is in the clear: encrypt it in place.
            if (auto st = write_identity(path, *loaded, opts, true); !st.ok()) return st;
        }
        return loaded;
    }
    if (loaded.status().code() != base::Errc::not_found) return loaded;
    Identity id = Identity::generate();
    if (auto st = write_identity(path, id, opts); !st.ok()) return st;
    created = true;
    return id;
}

}  // namespace crypto
