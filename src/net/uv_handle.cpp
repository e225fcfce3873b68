#include "net/uv_handle.hpp"

#include <cstdio>
#include <string>

namespace net {

base::Status uv_status(int rc, const char* what) {
    base::Errc code = base::Errc::io;
    if (rc == UV_EADDRINUSE) code = base::Errc::exists;
    if (rc == UV_EACCES || rc == UV_EPERM) code = base::Errc::permission;
    if (rc == UV_EINVAL) code = base::Errc::invalid_argument;
    return {code, std::string(what) + ": " + uv_strerror(rc)};
}

Loop::Loop() { uv_loop_init(&loop_); }

Loop::~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);  // run pending close callbacks
    if (uv_loop_close(&loop_) == UV_EBUSY) {
        uv_walk(&loop_, [](uv_handle_t* h, void*) {
            std::fprintf(stderr, "leaked libuv handle: %s\n", uv_handle_type_name(h->type));
        }, nullptr);
    }
}

}  // namespace net
