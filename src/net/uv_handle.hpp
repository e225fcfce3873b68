#pragma once
// Owning wrapper for a libuv handle. Handle memory must outlive the close callback
// (libuv docs/src/handle.rst): the destructor *starts* the close and libuv's callback frees.
#include <uv.h>

#include <memory>
#include <utility>

#include "base/status.hpp"

namespace net {

base::Status uv_status(int rc, const char* what);

template <class T>
class UvHandle {
public:
    template <class Init>  // [&](T* h) { return uv_timer_init(loop, h); }
    static base::Result<UvHandle> make(Init init) {
        auto h = std::make_unique<T>();
        if (int rc = init(h.get()); rc != 0) return uv_status(rc, "init");  // never registered
        return UvHandle{h.release()};
    }
    UvHandle(UvHandle&& o) noexcept : h_{std::exchange(o.h_, nullptr)} {}
    UvHandle& operator=(UvHandle&&) = delete;
    ~UvHandle() {
        if (!h_) return;
        auto* raw = reinterpret_cast<uv_handle_t*>(h_);
        raw->data = nullptr;  // late callbacks see "owner gone"
        uv_close(raw, [](uv_handle_t* p) { delete reinterpret_cast<T*>(p); });
    }
    T* get() const noexcept { return h_; }

private:
    explicit UvHandle(T* h) : h_{h} {}
    T* h_;
};

// The one event loop. Outlives every handle owner; its destructor drains close callbacks.
class Loop {
public:
    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    uv_loop_t* get() { return &loop_; }
    int run() { return uv_run(&loop_, UV_RUN_DEFAULT); }
    void stop() { uv_stop(&loop_); }

private:
    uv_loop_t loop_{};
};

}  // namespace net
