#pragma once
// TCP on the loop: a listener and connections that read into a callback and queue writes.
// Non-movable: libuv holds `this` in the handle's data.
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/endpoint.hpp"
#include "net/uv_handle.hpp"

namespace net {

class TcpConnection {
public:
    using OnConnect = std::function<void(base::Status)>;
    using OnData = std::function<void(std::span<const uint8_t>)>;
    using OnClose = std::function<void(const std::string& why)>;  // end of stream or an error

    // Connects to `to`. With `from`, the socket is bound there first, with SO_REUSEADDR and
    // SO_REUSEPORT, so it may share the port of our listener (TCP simultaneous open: both ends
    // connect from the port the other expects, and the listener stays open).
    static base::Result<std::unique_ptr<TcpConnection>> connect(Loop& loop, const base::Endpoint& to, OnConnect cb,
                                                                std::optional<base::Endpoint> from = std::nullopt);
    TcpConnection(const TcpConnection&) = delete;
    TcpConnection& operator=(const TcpConnection&) = delete;
    ~TcpConnection();

    // Callbacks may destroy this object.
    void start(OnData on_data, OnClose on_close);
    void write(std::vector<uint8_t> bytes);
    size_t queued_bytes() const { return queued_; }  // handed to write() but not yet written
    std::function<void()> on_drain;                  // the queue just emptied
    // The queue just fell from above `low_water` to it or below: room for more. A sender that
    // refills here keeps the socket busy while it prepares the next batch, instead of waiting
    // for the queue to empty (and leaving the peer idle meanwhile).
    std::function<void()> on_low;
    void set_low_water(size_t bytes) { low_water_ = bytes; }
    std::function<void(std::vector<uint8_t>&&)> on_written;  // a buffer given to write(), done with

    const base::Endpoint& remote() const { return remote_; }
    bool connected() const { return connected_; }

private:
    friend class TcpListener;
    TcpConnection(UvHandle<uv_tcp_t> h) : handle_{std::move(h)} {}
    void fail(const std::string& why);
    static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* out) noexcept;
    static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept;

    UvHandle<uv_tcp_t> handle_;
    OnConnect on_connect_;
    OnData on_data_;
    OnClose on_close_;
    base::Endpoint remote_;
    bool connected_ = false;
    bool failed_ = false;
    size_t queued_ = 0;
    size_t low_water_ = 0;
    std::vector<char> rbuf_;
};

class TcpListener {
public:
    using OnAccept = std::function<void(std::unique_ptr<TcpConnection>)>;
    // Listens with SO_REUSEPORT, so that connections can be started from the same port.
    static base::Result<std::unique_ptr<TcpListener>> listen(Loop& loop, const base::Endpoint& at, OnAccept cb);
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;
    const base::Endpoint& local() const { return local_; }
    uint64_t accept_errors() const { return accept_errors_; }

private:
    TcpListener(Loop& loop, UvHandle<uv_tcp_t> h, OnAccept cb) : loop_{loop}, handle_{std::move(h)}, cb_{std::move(cb)} {}
    static void on_connection(uv_stream_t* s, int status) noexcept;
    Loop& loop_;
    UvHandle<uv_tcp_t> handle_;
    OnAccept cb_;
    base::Endpoint local_;
    uint64_t accept_errors_ = 0;
};

}  // namespace net
