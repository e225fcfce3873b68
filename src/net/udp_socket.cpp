#include "net/udp_socket.hpp"

#include <cstring>
#include <exception>

#include "net/sockaddr.hpp"

namespace net {

base::Result<std::unique_ptr<UdpSocket>> UdpSocket::bind(Loop& loop, RecvBuffer& buf,
                                                         const base::Endpoint& at, OnDatagram cb) {
    auto h = UvHandle<uv_udp_t>::make([&](uv_udp_t* u) { return uv_udp_init(loop.get(), u); });
    if (!h) return h.status();
    std::unique_ptr<UdpSocket> s{new UdpSocket(std::move(*h), buf, std::move(cb))};
    sockaddr_storage sa{};
    to_sockaddr(at, sa);
    unsigned flags = at.is_v6() ? UV_UDP_IPV6ONLY : 0;
    if (int rc = uv_udp_bind(s->handle_.get(), reinterpret_cast<sockaddr*>(&sa), flags); rc != 0)
        return uv_status(rc, ("bind " + at.to_string()).c_str());
    // A bootstrap node receives bursts (many nodes joining at once); the default 208 KiB buffer
    // overflows and the kernel drops the excess. Ask for 1 MiB; the kernel caps it at rmem_max.
    int rcvbuf = 1 << 20;
    uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(s->handle_.get()), &rcvbuf);
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_udp_getsockname(s->handle_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    from_sockaddr(reinterpret_cast<sockaddr*>(&bound), s->local_);
    s->handle_.get()->data = s.get();
    if (int rc = uv_udp_recv_start(s->handle_.get(), &UdpSocket::on_alloc, &UdpSocket::on_recv); rc != 0)
        return uv_status(rc, "recv_start");
    return s;
}

base::Result<std::unique_ptr<UdpSocket>> UdpSocket::bind_multicast(Loop& loop, RecvBuffer& buf,
                                                                   const base::Endpoint& group, OnDatagram cb) {
    if (group.is_v6()) return base::Status{base::Errc::invalid_argument, "IPv4 multicast only"};
    auto h = UvHandle<uv_udp_t>::make([&](uv_udp_t* u) { return uv_udp_init(loop.get(), u); });
    if (!h) return h.status();
    std::unique_ptr<UdpSocket> s{new UdpSocket(std::move(*h), buf, std::move(cb))};
    base::Endpoint any = base::Endpoint::v4(0, 0, 0, 0, group.port);
    sockaddr_storage sa{};
    to_sockaddr(any, sa);
    if (int rc = uv_udp_bind(s->handle_.get(), reinterpret_cast<sockaddr*>(&sa), UV_UDP_REUSEADDR); rc != 0)
        return uv_status(rc, ("bind " + any.to_string()).c_str());
    std::string g = group.to_string();
    g = g.substr(0, g.rfind(':'));
    if (int rc = uv_udp_set_membership(s->handle_.get(), g.c_str(), nullptr, UV_JOIN_GROUP); rc != 0)
        return uv_status(rc, ("join " + g).c_str());
    if (int rc = uv_udp_set_multicast_ttl(s->handle_.get(), 1); rc != 0) return uv_status(rc, "multicast ttl");
    if (int rc = uv_udp_set_multicast_loop(s->handle_.get(), 1); rc != 0) return uv_status(rc, "multicast loop");
    s->local_ = any;
    s->handle_.get()->data = s.get();
    if (int rc = uv_udp_recv_start(s->handle_.get(), &UdpSocket::on_alloc, &UdpSocket::on_recv); rc != 0)
        return uv_status(rc, "recv_start");
    return s;
}

void UdpSocket::on_alloc(uv_handle_t* h, size_t, uv_buf_t* out) noexcept {
    auto* self = static_cast<UdpSocket*>(h->data);
    if (!self) {
        *out = uv_buf_init(nullptr, 0);
        return;
    }
    *out = uv_buf_init(self->buf_.data(), static_cast<unsigned>(self->buf_.size()));
}

void UdpSocket::on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags) noexcept {
    auto* self = static_cast<UdpSocket*>(h->data);
    if (!self) return;
    // n == 0 with an address is an empty datagram (without one, libuv's "nothing more to read").
    if (n == 0 && addr) ++self->empty_;
    if (n <= 0 || !addr || (flags & UV_UDP_PARTIAL)) return;
    base::Endpoint from;
    if (!from_sockaddr(addr, from)) return;
    try {
        self->cb_(from, {reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n)});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bug: exception in datagram handler: %s\n", e.what());
    }
}

namespace {
struct SendReq {
    uv_udp_send_t req;
    std::vector<char> bytes;  // owned until the callback, which frees the request
};
}  // namespace

void UdpSocket::send(const base::Endpoint& to, std::span<const uint8_t> bytes) {
    sockaddr_storage sa{};
    to_sockaddr(to, sa);
    // Try the synchronous path first: no allocation in the common case.
    uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                             static_cast<unsigned>(bytes.size()));
    int rc = uv_udp_try_send(handle_.get(), &b, 1, reinterpret_cast<sockaddr*>(&sa));
    if (rc >= 0) return;
    if (rc != UV_EAGAIN) {
        ++send_errors_;
        return;
    }
    auto* req = new SendReq{};
    req->bytes.assign(reinterpret_cast<const char*>(bytes.data()),
                      reinterpret_cast<const char*>(bytes.data()) + bytes.size());
    uv_buf_t qb = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
    rc = uv_udp_send(&req->req, handle_.get(), &qb, 1, reinterpret_cast<sockaddr*>(&sa),
                     [](uv_udp_send_t* r, int) { delete reinterpret_cast<SendReq*>(r); });
    if (rc != 0) {
        ++send_errors_;
        delete req;
    }
}

base::Result<std::unique_ptr<Timer>> Timer::make(Loop& loop, std::function<void()> cb) {
    auto h = UvHandle<uv_timer_t>::make([&](uv_timer_t* t) { return uv_timer_init(loop.get(), t); });
    if (!h) return h.status();
    std::unique_ptr<Timer> t{new Timer(std::move(*h), std::move(cb))};
    t->handle_.get()->data = t.get();
    return t;
}

void Timer::start(uint64_t delay_ms) {
    uv_timer_start(handle_.get(), [](uv_timer_t* h) {
        auto* self = static_cast<Timer*>(h->data);
        if (!self) return;
        try {
            self->cb_();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bug: exception in timer: %s\n", e.what());
        }
    }, delay_ms, 0);
}

void Timer::stop() { uv_timer_stop(handle_.get()); }

base::Result<std::unique_ptr<Signals>> Signals::make(Loop& loop, std::function<void(int)> cb) {
    auto a = UvHandle<uv_signal_t>::make([&](uv_signal_t* s) { return uv_signal_init(loop.get(), s); });
    if (!a) return a.status();
    auto b = UvHandle<uv_signal_t>::make([&](uv_signal_t* s) { return uv_signal_init(loop.get(), s); });
    if (!b) return b.status();
    std::unique_ptr<Signals> s{new Signals(std::move(*a), std::move(*b), std::move(cb))};
    auto on_signal = [](uv_signal_t* h, int signum) {
        auto* self = static_cast<Signals*>(h->data);
        if (self) self->cb_(signum);
    };
    s->int_.get()->data = s.get();
    s->term_.get()->data = s.get();
    uv_signal_start(s->int_.get(), on_signal, SIGINT);
    uv_signal_start(s->term_.get(), on_signal, SIGTERM);
    return s;
}

}  // namespace net
