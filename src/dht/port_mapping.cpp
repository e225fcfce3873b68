#include "dht/port_mapping.hpp"

#include <algorithm>

namespace dht {

void PortMapSchedule::started(base::TimePoint) {
    running_ = true;
    ++attempts_;
}

base::TimePoint PortMapSchedule::expires_at() const {
    if (!current_) return base::kNever;
    if (current_->lifetime == base::Duration::zero()) return base::kNever;
    return current_->granted_at + current_->lifetime;
}

bool PortMapSchedule::on_granted(PortMapping m, base::TimePoint now) {
    running_ = false;
    error_.clear();
    backoff_ = {};
    m.granted_at = now;
    bool changed = !current_ || current_->external != m.external;
    if (m.lifetime == base::Duration::zero())
        next_ = now + cfg_.recheck;
    else
        next_ = now + std::max(m.lifetime / 2, cfg_.min_renew);
    current_ = std::move(m);
    return changed;
}

bool PortMapSchedule::on_failed(std::string why, base::TimePoint now) {
    running_ = false;
    error_ = std::move(why);
    ++failures_;
    backoff_ = backoff_ == base::Duration::zero() ? cfg_.retry : std::min(backoff_ * 2, cfg_.retry_max);
    if (current_) {
        // A renewal failed: the mapping may still hold until it expires; try again well before.
        next_ = now + cfg_.retry;
        return expire(now);
    }
    next_ = now + backoff_;
    return false;
}

bool PortMapSchedule::expire(base::TimePoint now) {
    if (!current_ || now < expires_at()) return false;
    current_.reset();
    return true;
}

bool PortMapSchedule::reset(base::TimePoint now) {
    bool had = current_.has_value();
    current_.reset();
    running_ = false;  // an attempt still out answers for the old network: its result is dropped
    backoff_ = {};
    next_ = now;
    return had;
}

base::TimePoint PortMapSchedule::next(base::TimePoint) const {
    base::TimePoint t = running_ ? base::kNever : next_;
    return std::min(t, expires_at());
}

}  // namespace dht
