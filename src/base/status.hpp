#pragma once
// Expected failures are values (after leveldb's Status): a Status is OK or an error code plus a
// human-readable detail. Result<T> carries a value or a non-OK Status. Nothing below cli throws.
#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace base {

enum class Errc {
    ok = 0,
    malformed,         // bytes that do not parse or do not match a schema
    invalid_argument,  // a caller (user, config) asked for something impossible
    not_found,
    exists,
    io,
    permission,
    crypto,            // authentication failed; never says why
    timeout,
    unavailable,       // nothing reachable, try later
    too_large,
    limit,             // a quota or capacity is exhausted
    internal,
};

const char* errc_name(Errc c);

class Status {
public:
    Status() = default;
    Status(Errc code, std::string detail) : code_{code}, detail_{std::move(detail)} {}
    static Status ok_status() { return {}; }

    bool ok() const { return code_ == Errc::ok; }
    Errc code() const { return code_; }
    const std::string& detail() const { return detail_; }
    // "malformed: find_value.key: not a string"
    std::string to_string() const;

private:
    Errc code_ = Errc::ok;
    std::string detail_;
};

inline Status malformed(std::string d) { return {Errc::malformed, std::move(d)}; }
inline Status invalid_argument(std::string d) { return {Errc::invalid_argument, std::move(d)}; }
inline Status not_found(std::string d) { return {Errc::not_found, std::move(d)}; }
inline Status io_error(std::string d) { return {Errc::io, std::move(d)}; }

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_{std::move(value)} {}
    Result(Status st) : status_{std::move(st)} { assert(!status_.ok()); }

    bool ok() const { return value_.has_value(); }
    explicit operator bool() const { return ok(); }
    const Status& status() const { return status_; }

    T& operator*() & { assert(ok()); return *value_; }
    const T& operator*() const& { assert(ok()); return *value_; }
    T&& operator*() && { assert(ok()); return std::move(*value_); }
    T* operator->() { assert(ok()); return &*value_; }
    const T* operator->() const { assert(ok()); return &*value_; }

private:
    std::optional<T> value_;
    Status status_;
};

}  // namespace base
