// Regenerates the golden files: `make_vectors DHT_DIR SESSION_DIR` writes tests/vectors/dht/*.json
// and tests/vectors/session/*.hex. Run it only when a wire format changes on purpose (and bump the
// version if the change is incompatible).
#include <cstdio>
#include <fstream>

#include "base/hex.hpp"
#include "dht/auth.hpp"
#include "session_vectors.hpp"
#include "vectors.hpp"

int main(int argc, char** argv) {
    if (argc != 3 || !crypto::init().ok()) {
        std::fprintf(stderr, "usage: make_vectors DHT_DIR SESSION_DIR\n");
        return 2;
    }
    auto a = vectors::alice(), b = vectors::bob();
    dht::CryptoAuthenticator auth_a{a, 4}, auth_b{b, 4};
    dht::NodeId id_a{a.public_key}, id_b{b.public_key};
    for (auto& v : vectors::all()) {
        std::string dg = v.from_alice ? dht::encode(v.msg, auth_a, v.hello ? nullptr : &id_b)
                                      : dht::encode(v.msg, auth_b, &id_a);
        std::ofstream(std::string(argv[1]) + "/" + v.name + ".json", std::ios::binary) << dg;
        std::printf("%s\n", v.name.c_str());
    }
    for (auto& [name, bytes] : vectors::session_messages()) {
        std::ofstream(std::string(argv[2]) + "/" + name + ".hex") << base::to_hex(bytes) << "\n";
        std::printf("%s (%zu bytes)\n", name.c_str(), bytes.size());
    }
}
