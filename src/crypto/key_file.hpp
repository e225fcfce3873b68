#pragma once
// The identity key file in the data directory. Format (88 bytes, see docs/PROTOCOL.md §Key file):
//   "KCIDKEY1" | 32-byte Ed25519 seed | 32-byte public key | 16-byte BLAKE2b checksum of the rest
// or, encrypted with a passphrase (144 bytes):
//   "KCIDENC1" | 16-byte salt | opslimit (8, BE) | memlimit (8, BE) | 24-byte nonce |
//   secretbox(seed | public key) under Argon2id(passphrase, salt, opslimit, memlimit)
// A corrupt, truncated or group/world-accessible file is an error, never silently replaced: that
// would throw away the user's identity.
#include <string>

#include "base/status.hpp"
#include "crypto/keys.hpp"

namespace crypto {

inline constexpr size_t kKeyFileSize = 8 + 32 + 32 + 16;
inline constexpr size_t kEncryptedKeyFileSize = 8 + 16 + 8 + 8 + 24 + 64 + 16;

// Argon2id cost for new encrypted files. The defaults are libsodium's "interactive" (2 passes,
// 64 MiB, a fraction of a second at each start); tests use the minimum.
struct PwhashCost {
    uint64_t opslimit = 2;
    uint64_t memlimit = 64ull << 20;
    static PwhashCost minimum() { return {1, 8192}; }
};

// With `passphrase`: a new key file is created encrypted, and an unencrypted one is rewritten
// encrypted. Without: an encrypted file is an error that says a passphrase is needed.
struct KeyFileOptions {
    const std::string* passphrase = nullptr;
    PwhashCost cost{};
};

// Loads the key at `path`; creates it (mode 0600, atomically) only if no file exists there.
// `created` tells the caller which happened.
base::Result<Identity> load_or_create_identity(const std::string& path, bool& created,
                                               const KeyFileOptions& opts = {});
base::Result<Identity> load_identity(const std::string& path, const std::string* passphrase = nullptr);
// Atomically creates `path` (fails if it exists) or, with `replace`, replaces it.
base::Status write_identity(const std::string& path, const Identity& id, const KeyFileOptions& opts = {},
                            bool replace = false);
// True if the file at `path` is an encrypted key file.
bool is_encrypted_key_file(const std::string& path);

}  // namespace crypto
