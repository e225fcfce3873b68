#include "net/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "net/udp_socket.hpp"

namespace net {

namespace {
constexpr size_t kMaxRequest = 64 * 1024;
}

struct ControlServer::Conn {
    ControlServer* server;
    uint64_t id;
    UvHandle<uv_pipe_t> handle;
    std::string in;
    bool answered = false;
    base::TimePoint since{};
    char buf[4096];
};

ControlServer::ControlServer(Loop& loop, UvHandle<uv_pipe_t> h, std::string path, OnRequest cb)
    : loop_{loop}, handle_{std::move(h)}, path_{std::move(path)}, cb_{std::move(cb)} {}

ControlServer::~ControlServer() {
    *alive_ = false;
    conns_.clear();
    ::unlink(path_.c_str());
}

base::Result<std::unique_ptr<ControlServer>> ControlServer::listen(Loop& loop, const std::string& path,
                                                                   OnRequest cb) {
    auto h = UvHandle<uv_pipe_t>::make([&](uv_pipe_t* p) { return uv_pipe_init(loop.get(), p, 0); });
    if (!h) return h.status();
    std::unique_ptr<ControlServer> s{new ControlServer(loop, std::move(*h), path, std::move(cb))};
    mode_t old = ::umask(077);  // the socket is born 0600
    int rc = uv_pipe_bind(s->handle_.get(), path.c_str());
    ::umask(old);
    if (rc != 0) return uv_status(rc, ("control socket " + path).c_str());
    ::chmod(path.c_str(), 0600);
    s->handle_.get()->data = s.get();
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(s->handle_.get()), kBacklog, &ControlServer::on_connection);
    if (rc != 0) return uv_status(rc, "listen");
    ControlServer* raw = s.get();
    auto t = Timer::make(loop, [raw] { raw->sweep(); });
    if (!t) return t.status();
    s->sweep_ = std::move(*t);
    return s;
}

size_t ControlServer::waiting() const {
    size_t n = 0;
    for (auto& [id, c] : conns_) n += !c->answered;
    return n;
}

// True when the client's bytes wait in the socket for the loop to read them. A node starved of CPU
// (hundreds of clients starting at once under the sanitizers) can reach this sweep after a long
// loop iteration, before the read callback of a connection accepted in it: that client is not idle.
bool ControlServer::has_unread(Conn& c) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(c.handle.get()), &fd) != 0) return false;
    char b;
    return ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// Closes the connections that have not sent a full request within kIdleTimeout.
void ControlServer::sweep() {
    auto now = base::steady_now();
    for (auto it = conns_.begin(); it != conns_.end();) {
        if (!it->second->answered && now - it->second->since >= kIdleTimeout && !has_unread(*it->second)) {
            ++idle_closed_;
            it = conns_.erase(it);  // the handle closes with it
        } else {
            ++it;
        }
    }
    sweeping_ = waiting() > 0;
    if (sweeping_) sweep_->start(1000);
}

void ControlServer::on_connection(uv_stream_t* server, int status) noexcept {
    auto* self = static_cast<ControlServer*>(server->data);
    if (!self || status < 0) return;
    auto h = UvHandle<uv_pipe_t>::make([&](uv_pipe_t* p) { return uv_pipe_init(self->loop_.get(), p, 0); });
    if (!h) return;
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(h->get())) != 0) return;
    uint64_t id = self->next_id_++;
    auto conn = std::unique_ptr<Conn>(new Conn{self, id, std::move(*h), {}, false, base::steady_now(), {}});
    conn->handle.get()->data = conn.get();
    if (self->waiting() >= kMaxPending) {
        // Too many clients waiting: say so at once rather than let them pile up.
        ++self->refused_;
        conn->answered = true;
        self->conns_.emplace(id, std::move(conn));
        self->finish(id, "{\"ok\":false,\"error\":\"too many control connections; try again\"}\n");
        return;
    }
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(conn->handle.get()),
        [](uv_handle_t* h, size_t, uv_buf_t* out) {
            auto* c = static_cast<Conn*>(h->data);
            *out = c ? uv_buf_init(c->buf, sizeof c->buf) : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
            auto* c = static_cast<Conn*>(st->data);
            if (!c) return;
            ControlServer* srv = c->server;
            if (n < 0) {  // EOF or error before a full line: drop the connection
                if (!c->answered) srv->conns_.erase(c->id);
                return;
            }
            c->in.append(buf->base, static_cast<size_t>(n));
            if (c->in.size() > kMaxRequest) {
                srv->finish(c->id, "{\"ok\":false,\"error\":\"request too large\"}\n");
                return;
            }
            auto nl = c->in.find('\n');
            if (nl == std::string::npos || c->answered) return;
            c->answered = true;
            uv_read_stop(st);
            std::string line = c->in.substr(0, nl);
            uint64_t id = c->id;
            std::weak_ptr<bool> alive = srv->alive_;
            try {
                srv->cb_(line, [srv, id, alive](std::string reply) {
                    if (auto a = alive.lock(); a && *a) srv->finish(id, std::move(reply));
                });
            } catch (const std::exception& e) {
                srv->finish(id, std::string("{\"ok\":false,\"error\":\"internal error\"}\n"));
                std::fprintf(stderr, "bug: exception in control handler: %s\n", e.what());
            }
        });
    self->conns_.emplace(id, std::move(conn));
    if (!self->sweeping_) {
        self->sweeping_ = true;
        self->sweep_->start(1000);
    }
}

void ControlServer::finish(uint64_t id, std::string reply) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    struct WriteReq {
        uv_write_t req;
        std::string bytes;
        std::unique_ptr<Conn> conn;  // keeps the pipe open until the write completes
    };
    auto* w = new WriteReq{{}, std::move(reply), std::move(it->second)};
    conns_.erase(it);
    uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(w->conn->handle.get()), &b, 1,
                      [](uv_write_t* r, int) { delete reinterpret_cast<WriteReq*>(r); });
    if (rc != 0) delete w;
}

base::Result<std::unique_ptr<LineReader>> LineReader::open_stdin(Loop& loop,
                                                                 std::function<void(std::string)> on_line,
                                                                 std::function<void()> on_eof) {
    auto h = UvHandle<uv_tty_t>::make([&](uv_tty_t* t) { return uv_tty_init(loop.get(), t, 0, 0); });
    if (!h) return h.status();
    std::unique_ptr<LineReader> r{new LineReader(std::move(*h), std::move(on_line), std::move(on_eof))};
    r->handle_.get()->data = r.get();
    int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(r->handle_.get()),
        [](uv_handle_t* h, size_t, uv_buf_t* out) {
            auto* self = static_cast<LineReader*>(h->data);
            *out = self ? uv_buf_init(self->buf_, sizeof self->buf_) : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
            auto* self = static_cast<LineReader*>(st->data);
            if (!self) return;
            if (n < 0) {
                uv_read_stop(st);
                self->on_eof_();
                return;
            }
            self->pending_.append(buf->base, static_cast<size_t>(n));
            size_t nl;
            while ((nl = self->pending_.find('\n')) != std::string::npos) {
                std::string line = self->pending_.substr(0, nl);
                self->pending_.erase(0, nl + 1);
                self->on_line_(std::move(line));
            }
        });
    if (rc != 0) return uv_status(rc, "read stdin");
    return r;
}

}  // namespace net
