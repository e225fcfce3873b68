#pragma once
// A bound UDP socket on the loop. Non-movable: libuv holds `this` in the handle's data.
#include <functional>
#include <span>
#include <vector>

#include "base/endpoint.hpp"
#include "net/uv_handle.hpp"

namespace net {

// One receive buffer serves every socket of a loop: libuv calls one recv callback at a time,
// and a thousand nodes in one process must not hold a thousand 64 KiB buffers.
class RecvBuffer {
public:
    explicit RecvBuffer(size_t size) : buf_(size) {}
    char* data() { return buf_.data(); }
    size_t size() const { return buf_.size(); }

private:
    std::vector<char> buf_;
};

class UdpSocket {
public:
    using OnDatagram = std::function<void(const base::Endpoint& from, std::span<const uint8_t>)>;
    // Binds to `at` (port 0 picks a free port) and starts receiving.
    static base::Result<std::unique_ptr<UdpSocket>> bind(Loop& loop, RecvBuffer& buf,
                                                         const base::Endpoint& at, OnDatagram cb);
    // A socket for an IPv4 multicast group on the local link: bound to the group's port with
    // SO_REUSEADDR (every node on the host receives), the group joined on the default interface,
    // TTL 1 (never routed), and our own datagrams looped back (nodes on one host find each other).
    static base::Result<std::unique_ptr<UdpSocket>> bind_multicast(Loop& loop, RecvBuffer& buf,
                                                                   const base::Endpoint& group, OnDatagram cb);
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;

    // Copies the bytes; failures are counted, not reported (UDP is best effort).
    void send(const base::Endpoint& to, std::span<const uint8_t> bytes);
    const base::Endpoint& local() const { return local_; }
    uint64_t send_errors() const { return send_errors_; }
    uint64_t empty_received() const { return empty_; }  // empty datagrams: nothing to hand on

private:
    UdpSocket(UvHandle<uv_udp_t> h, RecvBuffer& buf, OnDatagram cb)
        : handle_{std::move(h)}, buf_{buf}, cb_{std::move(cb)} {}
    static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* out) noexcept;
    static void on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags) noexcept;

    UvHandle<uv_udp_t> handle_;
    RecvBuffer& buf_;
    OnDatagram cb_;
    base::Endpoint local_;
    uint64_t send_errors_ = 0;
    uint64_t empty_ = 0;
};

class Timer {
public:
    static base::Result<std::unique_ptr<Timer>> make(Loop& loop, std::function<void()> cb);
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    void start(uint64_t delay_ms);
    void stop();

private:
    Timer(UvHandle<uv_timer_t> h, std::function<void()> cb) : handle_{std::move(h)}, cb_{std::move(cb)} {}
    UvHandle<uv_timer_t> handle_;
    std::function<void()> cb_;
};

class Signals {
public:
    // Calls `cb` on SIGINT or SIGTERM.
    static base::Result<std::unique_ptr<Signals>> make(Loop& loop, std::function<void(int)> cb);
    Signals(const Signals&) = delete;
    Signals& operator=(const Signals&) = delete;

private:
    Signals(UvHandle<uv_signal_t> a, UvHandle<uv_signal_t> b, std::function<void(int)> cb)
        : int_{std::move(a)}, term_{std::move(b)}, cb_{std::move(cb)} {}
    UvHandle<uv_signal_t> int_, term_;
    std::function<void(int)> cb_;
};

}  // namespace net
