// libFuzzer: any bytes as a sealed envelope addressed to bob.
#include <cstddef>
#include <cstdint>

#include "crypto/envelope.hpp"
#include "vectors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static bool ready = crypto::init().ok();
    static crypto::Identity bob = vectors::bob();
    static crypto::EnvelopeOpener opener{bob};
    (void)ready;
    (void)opener.open({data, size});
    return 0;
}
