#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "crypto/keys.hpp"

int main(int argc, char** argv) {
    if (!crypto::init().ok()) return 1;
    doctest::Context ctx;
    ctx.applyCommandLine(argc, argv);
    return ctx.run();
}
