#pragma once
// What this node's NAT does, sans-I/O, from what the DHT already carries (PROTOCOL.md §16.1).
//
// Mapping: every reply names the endpoint the replier saw our request come from ("ip"). If that is
// one of our own addresses there is no translation ("none"). If at least three repliers with
// different IP addresses saw the same endpoint, the NAT keeps one mapping for all destinations
// ("endpoint-independent"); if two saw different ones, it maps per destination
// ("endpoint-dependent", a symmetric NAT). Otherwise "unknown". Reports older than
// `report_window` are forgotten, so a moved laptop or a rebooted router is noticed.
//
// Filtering: can a node we never sent anything to reach us? We ask a contact (nat_check) to have
// third nodes, the helpers, ping us at the endpoint the contact sees (nat_probe, AutoNAT-style
// dial-back). If the helper's ping arrives and we had sent nothing to the helper's address in the
// last `contact_memory`, we are reachable unsolicited ("open"); if it does not arrive within
// `probe_wait`, we are not ("filtered"). A helper we had talked to proves nothing (a restricted
// NAT lets it in), so the check is tried again with another contact. Any query from an address
// we never sent to is the same evidence, and also counts.
#include <map>
#include <optional>
#include <vector>

#include "base/endpoint.hpp"
#include "base/time.hpp"

namespace dht {

enum class Mapping : uint8_t { unknown, none, independent, dependent };
enum class Filtering : uint8_t { unknown, open, filtered };
const char* mapping_name(Mapping m);
const char* filtering_name(Filtering f);

struct NatConfig {
    size_t min_agree = 3;                                   // reporters for "endpoint-independent"
    base::Duration report_window = std::chrono::minutes(5);
    base::Duration contact_memory = std::chrono::minutes(10);  // longer than any mapping lives
    base::Duration probe_wait = std::chrono::seconds(3);    // for the helper's ping
    base::Duration retry = std::chrono::seconds(5);         // after an inconclusive check, doubling…
    base::Duration retry_max = std::chrono::minutes(10);    // …to this
    base::Duration recheck = std::chrono::minutes(10);
    size_t max_reports = 64;
    size_t max_contacted = 8192;
};

class NatAnalysis {
public:
    explicit NatAnalysis(NatConfig cfg = {}) : cfg_{cfg} {}

    // Our own addresses (interface addresses with our port): a report of one of them is "none".
    void set_local(std::vector<base::Endpoint> local) { local_ = std::move(local); }
    // Our addresses changed (another network, another NAT): forget everything learnt, and check
    // again as soon as contacts report (§16.10). Our own addresses and a forced endpoint stay.
    void reset();
    // An operator's port forward or public address: reachable, whatever the checks say.
    void set_public(std::optional<base::Endpoint> ep) { forced_ = std::move(ep); }

    // A reply from `reporter` says it saw us at `observed`. True if what we know changed (a new
    // public endpoint or a new mapping kind): the filtering check then runs again.
    bool on_observed(const base::Endpoint& reporter, const base::Endpoint& observed, base::TimePoint now);
    // We sent a datagram to `to`.
    void on_sent(const base::Endpoint& to, base::TimePoint now);
    // An authenticated query (or the helper's ping) arrived from `from`.
    void on_query_from(const base::Endpoint& from, base::TimePoint now);

    // The dial-back check, driven by the node.
    bool check_due(base::TimePoint now) const;
    void check_started(base::TimePoint now);
    // The contact named its helpers; false if none proves anything (we talked to all of them).
    bool on_helpers(const std::vector<base::Endpoint>& helpers, base::TimePoint now);
    void check_failed(base::TimePoint now);  // no helper, an error or a timeout
    // Settles a check whose helper stayed silent; returns the next deadline.
    base::TimePoint tick(base::TimePoint now);

    Mapping mapping() const { return mapping_; }
    Filtering filtering() const;
    bool reachable() const { return forced_.has_value() || filtering_ == Filtering::open; }
    bool checked() const { return checked_at_ != base::TimePoint{}; }
    base::TimePoint checked_at() const { return checked_at_; }
    // The endpoints contacts see us at (recent reports, most reported first), or the forced one.
    std::vector<base::Endpoint> public_endpoints() const;
    bool contacted(const base::Endpoint& ip, base::TimePoint now) const;
    size_t remembered() const { return sent_.size(); }  // hosts we sent to, as kept for `contacted`

private:
    struct Report {
        base::Endpoint reporter;  // its IP (port 0)
        base::Endpoint observed;
        base::TimePoint at;
    };
    static base::Endpoint ip_of(const base::Endpoint& e) {
        base::Endpoint a = e;
        a.port = 0;
        return a;
    }
    Mapping classify(base::TimePoint now) const;
    void settle(Filtering f, base::TimePoint now);

    NatConfig cfg_;
    std::vector<base::Endpoint> local_;
    std::optional<base::Endpoint> forced_;
    // One per reporter, at most max_reports: read twice on every reply, where a short vector
    // scans several times faster than a map's nodes (it was 8 % of a 10,000-node simulation).
    std::vector<Report> reports_;
    std::map<base::Endpoint, base::TimePoint> sent_;  // IP (port 0) -> last datagram we sent there
    Mapping mapping_ = Mapping::unknown;
    Filtering filtering_ = Filtering::unknown;
    base::TimePoint checked_at_{};
    bool stale_ = true;  // what we know changed since the last check
    // The check in progress.
    bool checking_ = false;
    std::vector<base::Endpoint> helpers_;  // their IPs, those we never talked to
    base::TimePoint helper_deadline_ = base::kNever;
    base::TimePoint next_try_{};
    int inconclusive_ = 0;  // checks in a row that proved nothing
};

}  // namespace dht
