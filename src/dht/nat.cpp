#include "dht/nat.hpp"

#include <algorithm>
#include <tuple>

namespace dht {

const char* mapping_name(Mapping m) {
    switch (m) {
        case Mapping::unknown: return "unknown";
        case Mapping::none: return "none";
        case Mapping::independent: return "endpoint-independent";
        case Mapping::dependent: return "endpoint-dependent";
    }
    return "?";
}

const char* filtering_name(Filtering f) {
    switch (f) {
        case Filtering::unknown: return "unknown";
        case Filtering::open: return "open";
        case Filtering::filtered: return "filtered";
    }
    return "?";
}

Filtering NatAnalysis::filtering() const { return forced_ ? Filtering::open : filtering_; }

bool NatAnalysis::on_observed(const base::Endpoint& reporter, const base::Endpoint& observed, base::TimePoint now) {
    auto before = public_endpoints();
    base::Endpoint key = ip_of(reporter);
    auto it = std::find_if(reports_.begin(), reports_.end(), [&](const Report& r) { return r.reporter == key; });
    if (it != reports_.end()) {
        it->observed = observed;
        it->at = now;
    } else {
        reports_.push_back({key, observed, now});
        if (reports_.size() > cfg_.max_reports) {
            auto oldest = std::min_element(reports_.begin(), reports_.end(), [](auto& a, auto& b) {
                return std::tie(a.at, a.reporter) < std::tie(b.at, b.reporter);
            });
            reports_.erase(oldest);
        }
    }
    Mapping m = classify(now);
    bool changed = m != mapping_ || public_endpoints() != before;
    mapping_ = m;
    if (changed) {
        stale_ = true;
        inconclusive_ = 0;  // something new: worth asking at once
        next_try_ = now;
    }
    return changed;
}

namespace {
// Observed endpoint -> how many reporters saw it, and the latest report; a handful at most.
struct Seen {
    base::Endpoint ep;
    size_t reporters = 0;
    base::TimePoint latest{};
};
Seen& seen_entry(std::vector<Seen>& seen, const base::Endpoint& ep) {
    for (auto& s : seen)
        if (s.ep == ep) return s;
    return seen.emplace_back(Seen{ep});
}
}  // namespace

Mapping NatAnalysis::classify(base::TimePoint now) const {
    std::vector<Seen> seen;
    for (auto& r : reports_) {
        if (now - r.at > cfg_.report_window) continue;
        if (std::find(local_.begin(), local_.end(), r.observed) != local_.end()) return Mapping::none;
        ++seen_entry(seen, r.observed).reporters;
    }
    // Per family: a node with IPv4 and IPv6 sockets has one endpoint of each.
    for (auto fam : {base::Endpoint::Family::v4, base::Endpoint::Family::v6}) {
        size_t kinds = 0;
        for (auto& s : seen) kinds += s.ep.family == fam;
        if (kinds > 1) return Mapping::dependent;
    }
    for (auto& s : seen)
        if (s.reporters >= cfg_.min_agree) return Mapping::independent;
    return Mapping::unknown;
}

std::vector<base::Endpoint> NatAnalysis::public_endpoints() const {
    if (forced_) return {*forced_};
    std::vector<Seen> seen;
    for (auto& r : reports_) {
        auto& s = seen_entry(seen, r.observed);
        ++s.reporters;
        s.latest = std::max(s.latest, r.at);
    }
    // Most reporters first, then the most recent; the endpoint itself breaks a full tie.
    std::sort(seen.begin(), seen.end(), [](auto& a, auto& b) {
        if (a.reporters != b.reporters) return a.reporters > b.reporters;
        if (a.latest != b.latest) return a.latest > b.latest;
        return a.ep < b.ep;
    });
    std::vector<base::Endpoint> out;
    out.reserve(seen.size());
    for (auto& s : seen) out.push_back(s.ep);
    return out;
}

void NatAnalysis::on_sent(const base::Endpoint& to, base::TimePoint now) {
    sent_[ip_of(to)] = now;
    if (sent_.size() <= cfg_.max_contacted) return;
    // Over the cap, forget what has expired, and if everyone is recent (a busy public node), the
    // older half: a sweep is a pass over the whole map, so it must free room for many sends, not
    // run again on the next one. A host forgotten early makes its next query look unsolicited
    // (PROTOCOL.md §16.1 says what that can mislead, and when).
    for (auto it = sent_.begin(); it != sent_.end();)
        it = now - it->second > cfg_.contact_memory ? sent_.erase(it) : std::next(it);
    if (sent_.size() * 4 <= cfg_.max_contacted * 3) return;
    std::vector<base::TimePoint> times;
    times.reserve(sent_.size());
    for (auto& [ip, at] : sent_) times.push_back(at);
    auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
    std::nth_element(times.begin(), mid, times.end());
    // Older than the median go; of those sent at the median's very instant, only as many as needed.
    size_t excess = sent_.size() - times.size() / 2 - 1;
    for (auto it = sent_.begin(); it != sent_.end() && excess > 0;) {
        if (it->second < *mid) {
            it = sent_.erase(it);
            --excess;
        } else {
            ++it;
        }
    }
    for (auto it = sent_.begin(); it != sent_.end() && excess > 0;) {
        if (it->second == *mid) {
            it = sent_.erase(it);
            --excess;
        } else {
            ++it;
        }
    }
}

bool NatAnalysis::contacted(const base::Endpoint& ip, base::TimePoint now) const {
    auto it = sent_.find(ip_of(ip));
    return it != sent_.end() && now - it->second <= cfg_.contact_memory;
}

void NatAnalysis::on_query_from(const base::Endpoint& from, base::TimePoint now) {
    if (contacted(from, now)) return;
    // Someone we never sent to reached us: that is the proof the check looks for.
    settle(Filtering::open, now);
}

void NatAnalysis::reset() {
    reports_.clear();
    sent_.clear();
    mapping_ = Mapping::unknown;
    filtering_ = Filtering::unknown;
    checked_at_ = {};
    stale_ = true;
    checking_ = false;
    helpers_.clear();
    helper_deadline_ = base::kNever;
    next_try_ = {};
    inconclusive_ = 0;
}

bool NatAnalysis::check_due(base::TimePoint now) const {
    if (forced_ || checking_ || now < next_try_) return false;
    return stale_ || !checked() || now - checked_at_ >= cfg_.recheck;
}

void NatAnalysis::check_started(base::TimePoint now) {
    checking_ = true;
    helpers_.clear();
    helper_deadline_ = base::kNever;
    next_try_ = now + cfg_.retry;
}

bool NatAnalysis::on_helpers(const std::vector<base::Endpoint>& helpers, base::TimePoint now) {
    if (!checking_) return false;
    helpers_.clear();
    for (auto& h : helpers)
        if (!contacted(h, now)) helpers_.push_back(ip_of(h));  // a ping from the others proves nothing
    if (helpers_.empty()) {
        check_failed(now);
        return false;
    }
    helper_deadline_ = now + cfg_.probe_wait;
    return true;
}

// In a small network every helper may be a node we talked to: back off rather than ask forever.
void NatAnalysis::check_failed(base::TimePoint now) {
    checking_ = false;
    helpers_.clear();
    helper_deadline_ = base::kNever;
    auto wait = cfg_.retry * (1 << std::min(inconclusive_++, 16));
    next_try_ = now + std::min<base::Duration>(wait, cfg_.retry_max);
}

void NatAnalysis::settle(Filtering f, base::TimePoint now) {
    inconclusive_ = 0;
    filtering_ = f;
    checked_at_ = now;
    stale_ = false;
    checking_ = false;
    helpers_.clear();
    helper_deadline_ = base::kNever;
}

base::TimePoint NatAnalysis::tick(base::TimePoint now) {
    if (!helpers_.empty() && now >= helper_deadline_) {
        // No helper's ping arrived. It counts if we still never talked to one of them (a
        // lookup may have meanwhile, and then its silence proves nothing).
        bool fresh = std::any_of(helpers_.begin(), helpers_.end(), [&](auto& h) { return !contacted(h, now); });
        if (fresh)
            settle(Filtering::filtered, now);
        else
            check_failed(now);
    }
    if (!helpers_.empty()) return helper_deadline_;
    if (checking_ || forced_) return base::kNever;  // the node's nat_check settles it
    if (stale_ || !checked()) return next_try_;
    return std::max(next_try_, checked_at_ + cfg_.recheck);
}

}  // namespace dht
