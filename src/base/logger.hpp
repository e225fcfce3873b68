#pragma once
// Injected, levelled logging with a component tag ("dht.rpc"). Never log secret keys, plaintext
// or whole tokens. Costly formatting is guarded with enabled().
#include <cstdarg>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace base {

enum class Level { trace = 0, debug, info, warn, error, off };
const char* level_name(Level l);
// "trace|debug|info|warn|error|off"; nullopt-like false on unknown names.
bool parse_level(std::string_view s, Level& out);

class Logger {
public:
    explicit Logger(Level level) : level_{level} {}
    virtual ~Logger() = default;
    bool enabled(Level l) const { return l >= level_ && level_ != Level::off; }
    void set_level(Level l) { level_ = l; }
    Level level() const { return level_; }
    // Every node's lines carry its short id; set once the identity is known.
    void set_tag(std::string tag) { tag_ = std::move(tag); }

    [[gnu::format(printf, 4, 5)]] void log(Level l, const char* component, const char* fmt, ...);

protected:
    virtual void write(Level l, const char* component, std::string_view msg) = 0;
    const std::string& tag() const { return tag_; }

private:
    Level level_;
    std::string tag_;
};

class StderrLogger final : public Logger {
public:
    using Logger::Logger;
    // Lines go to `sink` instead of stderr while it is set (the interactive prompt prints them
    // above the line being typed). Pass nullptr to go back to stderr.
    void set_sink(std::function<void(const std::string&)> sink) { sink_ = std::move(sink); }
    // For journald (systemd sets JOURNAL_STREAM when stderr goes to the journal): each line
    // starts with its syslog priority ("<4>" for warn) and has no time stamp (the journal keeps
    // its own), so `journalctl -p warning` filters by level.
    void set_journal(bool on) { journal_ = on; }

protected:
    void write(Level l, const char* component, std::string_view msg) override;

private:
    std::function<void(const std::string&)> sink_;
    bool journal_ = false;
};

// Keeps lines in memory: each simulated node gets one, dumped when a test fails.
class CaptureLogger final : public Logger {
public:
    using Logger::Logger;
    const std::vector<std::string>& lines() const { return lines_; }

protected:
    void write(Level l, const char* component, std::string_view msg) override;

private:
    std::vector<std::string> lines_;
};

}  // namespace base

#define KC_LOG(logger, lvl, comp, ...)                                        \
    do {                                                                      \
        if ((logger).enabled(::base::Level::lvl)) (logger).log(::base::Level::lvl, comp, __VA_ARGS__); \
    } while (0)
