#include "chat/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/hex.hpp"
#include "crypto/keys.hpp"

namespace chat {

namespace {
std::string checksum(std::string_view text) {
    auto h = crypto::hash({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    return base::to_hex(std::span<const uint8_t>{h.data(), 4});
}
std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}
}  // namespace

base::Result<Journal> Journal::open(const std::string& path, Recovered& out) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return base::Status{errno == EACCES ? base::Errc::permission : base::Errc::io,
                            errno_text("cannot open", path)};
    }
    Journal j{path, fd};
    std::string data;
    char buf[65536];
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(data.size()));
        if (n < 0) return base::io_error(errno_text("cannot read", path));
        if (n == 0) break;
        data.append(buf, static_cast<size_t>(n));
    }
    size_t at = 0, line = 0;
    while (at < data.size()) {
        size_t nl = data.find('\n', at);
        ++line;
        bool last = nl == std::string::npos;
        std::string_view l{data.data() + at, (last ? data.size() : nl) - at};
        at = last ? data.size() : nl + 1;
        if (last) {
            // No newline at the end: a crash in the middle of an append, or a damaged newline.
            // Nothing is deleted: the line is ended so that the next record starts on its own.
            if (::write(fd, "\n", 1) != 1 || ::fdatasync(fd) != 0)
                return base::io_error(errno_text("cannot repair", path));
            bool intact = l.size() >= 10 && l[8] == ' ' && checksum(l.substr(9)) == l.substr(0, 8);
            if (intact) {
                out.records.emplace_back(l.substr(9));
            } else {
                out.problems.push_back("line " + std::to_string(line) + ": cut short (" + std::to_string(l.size()) +
                                       " bytes; a crash while writing it?), skipped");
            }
            break;
        }
        if (l.size() < 10 || l[8] != ' ' || checksum(l.substr(9)) != l.substr(0, 8)) {
            out.problems.push_back("line " + std::to_string(line) + ": checksum mismatch, skipped");
            continue;
        }
        out.records.emplace_back(l.substr(9));
    }
    return j;
}

Journal::Journal(Journal&& o) noexcept
    : path_{std::move(o.path_)}, fd_{o.fd_}, end_{o.end_}, group_{o.group_}, group_id_{o.group_id_} {
    o.fd_ = -1;
}

Journal::~Journal() {
    if (fd_ >= 0) ::close(fd_);
}

base::Status Journal::replace(const std::string& path, const std::vector<std::string>& records) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return base::io_error(errno_text("cannot create", tmp));
    std::string data;
    for (auto& r : records) {
        if (r.find('\n') != std::string::npos) {
            ::close(fd);
            return base::invalid_argument("a record cannot contain a newline");
        }
        data += checksum(r) + " " + r + "\n";
    }
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return base::io_error(errno_text("cannot write", tmp));
        }
        done += static_cast<size_t>(n);
    }
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return base::io_error(errno_text("cannot replace", path));
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);  // make the rename itself durable
        ::close(dfd);
    }
    return {};
}

base::Status Journal::append(const std::string& record) {
    if (record.find('\n') != std::string::npos) return base::invalid_argument("a record cannot contain a newline");
    std::string line = checksum(record) + " " + record + "\n";
    // A failed append (a full disk writes part of the line, then fails) leaves the file as it
    // was: cut back to where the line began, so the next record does not glue onto a torn one.
    // (The position is kept in memory after the first append: one syscall less per record.
    // One node at a time uses a data dir, so nobody else appends: a second start is refused.)
    off_t before = end_ >= 0 ? end_ : ::lseek(fd_, 0, SEEK_END);
    auto undo = [&](const char* what) {
        int err = errno;
        end_ = -1;
        if (before >= 0 && ::ftruncate(fd_, before) == 0) {
            ::fdatasync(fd_);
            end_ = before;
        }
        errno = err;
        return base::io_error(errno_text(what, path_));
    };
    size_t done = 0;
    while (done < line.size()) {
        ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return undo("cannot append to");
        done += static_cast<size_t>(n);
    }
    if (before >= 0) end_ = before + static_cast<off_t>(line.size());
    if (group_) {
        group_->dirty(group_id_, fd_);  // durable with the group's next batch
        return {};
    }
    // Not durable is not written: the caller reports the failure and keeps the record pending.
    if (::fdatasync(fd_) != 0) return undo("cannot sync");
    return {};
}

}  // namespace chat
