#include "net/tcp.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "net/sockaddr.hpp"

namespace net {

namespace {
// A connection starts with a small read buffer and grows it (×4) each time a read fills it, up to
// kReadBuffer: a bulk sender reaches full-size reads in three reads, and a connection that never
// sends (500 idle ones were 129 MB with 256 KB each from the start) costs 4 KB.
constexpr size_t kReadBuffer = 256 * 1024;
constexpr size_t kFirstReadBuffer = 4 * 1024;

struct WriteReq {
    uv_write_t req;
    std::vector<uint8_t> data;
};

// A TCP socket created at once (not at bind time, as uv_tcp_init would) so that SO_REUSEPORT can
// be set before the bind; libuv sets SO_REUSEADDR itself when binding.
base::Result<UvHandle<uv_tcp_t>> reusable_tcp(Loop& loop, bool v6) {
    auto h = UvHandle<uv_tcp_t>::make([&](uv_tcp_t* t) { return uv_tcp_init_ex(loop.get(), t, v6 ? AF_INET6 : AF_INET); });
    if (!h) return h.status();
    uv_os_fd_t fd;
    if (int rc = uv_fileno(reinterpret_cast<uv_handle_t*>(h->get()), &fd); rc != 0) return uv_status(rc, "tcp socket");
    int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
        return base::io_error(std::string("SO_REUSEPORT: ") + std::strerror(errno));
    return std::move(*h);
}

base::Endpoint peer_of(uv_tcp_t* h) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    base::Endpoint ep;
    if (uv_tcp_getpeername(h, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        from_sockaddr(reinterpret_cast<sockaddr*>(&ss), ep);
    return ep;
}
}  // namespace

base::Result<std::unique_ptr<TcpConnection>> TcpConnection::connect(Loop& loop, const base::Endpoint& to,
                                                                    OnConnect cb, std::optional<base::Endpoint> from) {
    auto h = reusable_tcp(loop, to.is_v6());
    if (!h) return h.status();
    std::unique_ptr<TcpConnection> c{new TcpConnection(std::move(*h))};
    c->handle_.get()->data = c.get();
    c->remote_ = to;
    c->on_connect_ = std::move(cb);
    sockaddr_storage ss{};
    if (!to_sockaddr(to, ss)) return base::invalid_argument("bad endpoint " + to.to_string());
    if (from) {
        sockaddr_storage local{};
        if (!to_sockaddr(*from, local)) return base::invalid_argument("bad endpoint " + from->to_string());
        if (int rc = uv_tcp_bind(c->handle_.get(), reinterpret_cast<sockaddr*>(&local), 0); rc != 0)
            return uv_status(rc, ("tcp bind " + from->to_string()).c_str());
    }
    // The request outlives this object if it is destroyed while connecting: the callback (with
    // UV_ECANCELED) frees it.
    auto* req = new uv_connect_t;
    int rc = uv_tcp_connect(req, c->handle_.get(), reinterpret_cast<sockaddr*>(&ss),
                            [](uv_connect_t* req, int status) {
                                auto* self = static_cast<TcpConnection*>(req->handle->data);
                                delete req;
                                if (!self) return;  // closed before it connected
                                auto cb = std::move(self->on_connect_);
                                if (status != 0) {
                                    self->failed_ = true;
                                    cb(uv_status(status, "connect"));
                                    return;
                                }
                                self->connected_ = true;
                                uv_tcp_nodelay(self->handle_.get(), 1);
                                cb({});
                            });
    if (rc != 0) {
        delete req;
        return uv_status(rc, "connect");
    }
    return c;
}

TcpConnection::~TcpConnection() = default;  // UvHandle closes; pending writes are cancelled

void TcpConnection::start(OnData on_data, OnClose on_close) {
    on_data_ = std::move(on_data);
    on_close_ = std::move(on_close);
    rbuf_.resize(kFirstReadBuffer);
    int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(handle_.get()), on_alloc, on_read);
    if (rc != 0) fail(std::string("read: ") + uv_strerror(rc));
}

void TcpConnection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* out) noexcept {
    auto* self = static_cast<TcpConnection*>(h->data);
    if (!self) {
        *out = uv_buf_init(nullptr, 0);
        return;
    }
    *out = uv_buf_init(self->rbuf_.data(), static_cast<unsigned>(self->rbuf_.size()));
}

void TcpConnection::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
    auto* self = static_cast<TcpConnection*>(s->data);
    if (!self || n == 0) return;
    if (n < 0) {
        self->fail(n == UV_EOF ? "connection closed by peer" : std::string("read: ") + uv_strerror(static_cast<int>(n)));
        return;
    }
    bool filled = static_cast<size_t>(n) == self->rbuf_.size();
    self->on_data_({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n)});
    // (A connection is never destroyed inside its own callback: `self` is still here.)
    if (filled && self->rbuf_.size() < kReadBuffer) {
        self->rbuf_.resize(std::min(kReadBuffer, self->rbuf_.size() * 4));
        self->rbuf_.shrink_to_fit();
    }
}

void TcpConnection::fail(const std::string& why) {
    if (failed_) return;
    failed_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(handle_.get()));
    if (on_close_) on_close_(why);  // may destroy this
}

void TcpConnection::write(std::vector<uint8_t> bytes) {
    if (failed_ || bytes.empty()) return;
    auto* w = new WriteReq;
    w->data = std::move(bytes);
    queued_ += w->data.size();
    uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(w->data.data()), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(handle_.get()), &b, 1, [](uv_write_t* req, int status) {
        auto* w = reinterpret_cast<WriteReq*>(req);
        auto* self = static_cast<TcpConnection*>(req->handle->data);
        size_t n = w->data.size();
        if (self) self->queued_ -= n;
        if (self && status == 0 && self->on_written) self->on_written(std::move(w->data));
        delete w;
        if (!self) return;
        if (status != 0) {
            if (status != UV_ECANCELED) self->fail(std::string("write: ") + uv_strerror(status));
            return;
        }
        bool crossed = self->queued_ <= self->low_water_ && self->queued_ + n > self->low_water_;
        if (self->queued_ == 0 && self->on_drain) self->on_drain();  // may destroy self
        else if (crossed && self->on_low) self->on_low();
    });
    if (rc != 0) {
        queued_ -= w->data.size();
        delete w;
        fail(std::string("write: ") + uv_strerror(rc));
    }
}

base::Result<std::unique_ptr<TcpListener>> TcpListener::listen(Loop& loop, const base::Endpoint& at, OnAccept cb) {
    auto h = reusable_tcp(loop, at.is_v6());
    if (!h) return h.status();
    std::unique_ptr<TcpListener> l{new TcpListener(loop, std::move(*h), std::move(cb))};
    l->handle_.get()->data = l.get();
    sockaddr_storage ss{};
    if (!to_sockaddr(at, ss)) return base::invalid_argument("bad endpoint " + at.to_string());
    unsigned flags = at.is_v6() ? UV_TCP_IPV6ONLY : 0;
    if (int rc = uv_tcp_bind(l->handle_.get(), reinterpret_cast<sockaddr*>(&ss), flags); rc != 0)
        return uv_status(rc, ("tcp bind " + at.to_string()).c_str());
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(l->handle_.get()), 128, on_connection); rc != 0)
        return uv_status(rc, ("tcp listen " + at.to_string()).c_str());
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(l->handle_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    from_sockaddr(reinterpret_cast<sockaddr*>(&bound), l->local_);
    return l;
}

void TcpListener::on_connection(uv_stream_t* s, int status) noexcept {
    auto* self = static_cast<TcpListener*>(s->data);
    if (!self) return;
    if (status != 0) {
        ++self->accept_errors_;
        return;
    }
    auto h = UvHandle<uv_tcp_t>::make([&](uv_tcp_t* t) { return uv_tcp_init(self->loop_.get(), t); });
    if (!h) {
        ++self->accept_errors_;
        return;
    }
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(h->get())) != 0) {
        ++self->accept_errors_;
        return;
    }
    std::unique_ptr<TcpConnection> c{new TcpConnection(std::move(*h))};
    c->handle_.get()->data = c.get();
    c->connected_ = true;
    c->remote_ = peer_of(c->handle_.get());
    uv_tcp_nodelay(c->handle_.get(), 1);
    self->cb_(std::move(c));
}

}  // namespace net
