#include "crypto/key_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace crypto {

namespace {
constexpr char kMagic[8] = {'K', 'C', 'I', 'D', 'K', 'E', 'Y', '1'};

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

base::Result<Identity> load_identity(const std::string& path) {
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
    std::array<uint8_t, kKeyFileSize + 1> buf{};
    ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0) return base::io_error(errno_text("cannot read key file", path));
    auto wipe = [&] { sodium_memzero(buf.data(), buf.size()); };
    if (static_cast<size_t>(n) != kKeyFileSize) {
        wipe();
        return base::malformed("key file " + path + " is " + std::to_string(n) + " bytes, expected " +
                               std::to_string(kKeyFileSize) + " (truncated or not a kadchat key)");
    }
    if (std::memcmp(buf.data(), kMagic, sizeof kMagic) != 0) {
        wipe();
        return base::malformed("key file " + path + " does not start with KCIDKEY1 (not a kadchat key, or encrypted by a newer version)");
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

base::Status write_identity(const std::string& path, const Identity& id) {
    std::array<uint8_t, kKeyFileSize> buf{};
    std::memcpy(buf.data(), kMagic, sizeof kMagic);
    std::memcpy(buf.data() + 8, id.secret_key.data(), kSeedSize);  // libsodium sk = seed || pk
    std::memcpy(buf.data() + 40, id.public_key.data(), 32);
    crypto_generichash(buf.data() + 72, 16, buf.data(), 72, nullptr, 0);

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
    // link() fails if a key appeared meanwhile, so a racing second node never overwrites it.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
        auto st = base::io_error(errno_text("cannot install key file", path));
        ::unlink(tmp.c_str());
        return st;
    }
    ::unlink(tmp.c_str());
    return {};
}

base::Result<Identity> load_or_create_identity(const std::string& path, bool& created) {
    created = false;
    auto loaded = load_identity(path);
    if (loaded || loaded.status().code() != base::Errc::not_found) return loaded;
    Identity id = Identity::generate();
    if (auto st = write_identity(path, id); !st.ok()) return st;
    created = true;
    return id;
}

}  // namespace crypto
