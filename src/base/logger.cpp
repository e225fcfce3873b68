#include "base/logger.hpp"

#include <cstdio>
#include <ctime>
#include <sys/time.h>

namespace base {

const char* level_name(Level l) {
    switch (l) {
        case Level::trace: return "trace";
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
        case Level::off: return "off";
    }
    return "?";
}

bool parse_level(std::string_view s, Level& out) {
    for (auto l : {Level::trace, Level::debug, Level::info, Level::warn, Level::error, Level::off}) {
        if (s == level_name(l)) {
            out = l;
            return true;
        }
    }
    return false;
}

void Logger::log(Level l, const char* component, const char* fmt, ...) {
    if (!enabled(l)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    write(l, component, std::string_view(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)));
}

void StderrLogger::write(Level l, const char* component, std::string_view msg) {
    if (journal_ && !sink_) {
        int prio = l == Level::error ? 3 : l == Level::warn ? 4 : l == Level::info ? 6 : 7;
        std::fprintf(stderr, "<%d>%-5s %-9s %s %.*s\n", prio, level_name(l), component,
                     tag().empty() ? "--------" : tag().c_str(), static_cast<int>(msg.size()), msg.data());
        return;
    }
    timeval tv{};
    gettimeofday(&tv, nullptr);
    tm t{};
    localtime_r(&tv.tv_sec, &t);
    char head[64];
    std::snprintf(head, sizeof head, "%02d:%02d:%02d.%03ld %-5s %-9s ", t.tm_hour, t.tm_min, t.tm_sec,
                  static_cast<long>(tv.tv_usec / 1000), level_name(l), component);
    std::string line = std::string(head) + (tag().empty() ? "--------" : tag()) + " " + std::string(msg);
    if (sink_) return sink_(line);
    std::fprintf(stderr, "%s\n", line.c_str());
}

void CaptureLogger::write(Level l, const char* component, std::string_view msg) {
    lines_.push_back(std::string(level_name(l)) + " " + component + " " + tag() + " " +
                     std::string(msg));
}

}  // namespace base
