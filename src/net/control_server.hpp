#pragma once
// A Unix domain socket server for the control interface: one request line in, one reply out,
// then the connection closes. The socket file is mode 0600; only its owner can drive the node.
// A client that sends no full line within kIdleTimeout is closed; beyond kMaxPending waiting
// connections a new one is answered with an error at once (the listen backlog is kBacklog).
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/time.hpp"
#include "net/uv_handle.hpp"

namespace net {

class Timer;

class ControlServer {
public:
    static constexpr size_t kMaxPending = 256;
    static constexpr int kBacklog = 512;
    static constexpr base::Duration kIdleTimeout = std::chrono::seconds(10);

    using Reply = std::function<void(std::string)>;  // callable once; safe after the client left
    using OnRequest = std::function<void(const std::string& line, Reply reply)>;

    static base::Result<std::unique_ptr<ControlServer>> listen(Loop& loop, const std::string& path,
                                                               OnRequest cb);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;
    const std::string& path() const { return path_; }

private:
    struct Conn;
    ControlServer(Loop& loop, UvHandle<uv_pipe_t> h, std::string path, OnRequest cb);
    static void on_connection(uv_stream_t* server, int status) noexcept;
    void finish(uint64_t id, std::string reply);
    void sweep();
    static bool has_unread(Conn& c);
    size_t waiting() const;

    Loop& loop_;
    UvHandle<uv_pipe_t> handle_;
    std::string path_;
    OnRequest cb_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::unique_ptr<Conn>> conns_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::unique_ptr<Timer> sweep_;
    bool sweeping_ = false;
    uint64_t idle_closed_ = 0, refused_ = 0;

public:
    uint64_t idle_closed() const { return idle_closed_; }
    uint64_t refused() const { return refused_; }
};

// Reads lines from standard input (a terminal or a pipe) on the loop.
class LineReader {
public:
    static base::Result<std::unique_ptr<LineReader>> open_stdin(
        Loop& loop, std::function<void(std::string)> on_line, std::function<void()> on_eof);
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

private:
    LineReader(UvHandle<uv_tty_t> h, std::function<void(std::string)> on_line,
               std::function<void()> on_eof)
        : handle_{std::move(h)}, on_line_{std::move(on_line)}, on_eof_{std::move(on_eof)} {}
    UvHandle<uv_tty_t> handle_;
    std::function<void(std::string)> on_line_;
    std::function<void()> on_eof_;
    std::string pending_;
    char buf_[4096];
};

}  // namespace net
