#pragma once
// The identity key file in the data directory. Format (88 bytes, see docs/PROTOCOL.md §Key file):
//   "KCIDKEY1" | 32-byte Ed25519 seed | 32-byte public key | 16-byte BLAKE2b checksum of the rest
// A corrupt, truncated or group/world-accessible file is an error, never silently replaced: that
// would throw away the user's identity.
#include <string>

#include "base/status.hpp"
#include "crypto/keys.hpp"

namespace crypto {

inline constexpr size_t kKeyFileSize = 8 + 32 + 32 + 16;

// Loads the key at `path`; creates it (mode 0600, atomically) only if no file exists there.
// `created` tells the caller which happened.
base::Result<Identity> load_or_create_identity(const std::string& path, bool& created);
base::Result<Identity> load_identity(const std::string& path);
base::Status write_identity(const std::string& path, const Identity& id);

}  // namespace crypto
