// Regenerates tests/vectors/dht/*.json: `make_vectors DIR`. Run it only when the wire format
// changes on purpose (and bump "v" if the change is incompatible).
#include <cstdio>
#include <fstream>

#include "dht/auth.hpp"
#include "vectors.hpp"

int main(int argc, char** argv) {
    if (argc != 2 || !crypto::init().ok()) return 2;
    auto a = vectors::alice(), b = vectors::bob();
    dht::CryptoAuthenticator auth_a{a, 4}, auth_b{b, 4};
    dht::NodeId id_a{a.public_key}, id_b{b.public_key};
    for (auto& v : vectors::all()) {
        std::string dg = v.from_alice ? dht::encode(v.msg, auth_a, v.signed_query ? nullptr : &id_b)
                                      : dht::encode(v.msg, auth_b, &id_a);
        std::ofstream(std::string(argv[1]) + "/" + v.name + ".json", std::ios::binary) << dg;
        std::printf("%s\n", v.name.c_str());
    }
}
