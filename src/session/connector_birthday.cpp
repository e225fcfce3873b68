// Birthday punching (PROTOCOL.md §16.9): the one pair of NAT kinds that ordinary probes cannot
// cross, a NAT that maps per destination (the hard side: a random port for every remote
// endpoint) against one that keeps one mapping but filters by remote address and port (the easy
// side: port-restricted, or a stateful firewall). The hard side's mapping towards the easy side
// has a port nobody can know in advance, and the easy side's filter lets in only the ports it
// sent to. So each side makes many guesses cheap for the other: the hard side opens many sockets
// and pings the easy side's one endpoint from each (256 mappings in its NAT), and the easy side
// pings random ports of the hard side's address (each opening its filter for that port). A
// guessed port that meets a mapped port makes a path, whichever came first: the easy side's ping
// crosses the mapping, or the hard side's ping crosses the filter the guess opened. With both at
// 100 packets/s, n guesses against m mappings succeed with 1 - exp(-n·m/64,512): 64 % when all
// 256 sockets are open (2.6 s), 95 % after ~7.6 s, 99.96 % at the 2,000-packet cap.
// (Tailscale's measurements; HyperDHT's holepuncher does the same at 20 ms per packet. Guessing
// neighbouring ports, as c-toxcore does, fails against random ports.)
#include <algorithm>
#include <cmath>

#include "base/hex.hpp"
#include "session/connector.hpp"

namespace session {

namespace {
bool easy(const NatInfo& n) {
    return (n.mapping == NatMapping::none || n.mapping == NatMapping::independent) && n.filtered;
}
bool hard(const NatInfo& n) { return n.mapping == NatMapping::dependent; }
// Linux and most NATs take random ports from here.
constexpr uint32_t kFirstPort = 1024, kPorts = 65536 - kFirstPort;
}  // namespace

bool Connector::birthday_ready(base::TimePoint now) const {
    return cfg_.birthday_sockets > 0 && cfg_.birthday_probes > 0 && now >= birthday_free_at_;
}

bool Connector::birthday_needed(const NatInfo& mine, const NatInfo& theirs) {
    return (hard(mine) && easy(theirs)) || (easy(mine) && hard(theirs));
}

// Decides, from both sides' NATs, whether this exchange of offer and answer needs a birthday
// attempt, and which side we are. Both sides decide alike from the same two NatInfos; the offer
// and the answer have said that both will take part (one alone would be wasted).
void Connector::maybe_birthday(const PublicKey& key, Punch& punch, const std::vector<Candidate>& theirs,
                               const std::optional<base::Endpoint>& seen, const NatInfo& their_nat,
                               base::TimePoint now) {
    if (cfg_.birthday_sockets == 0 || cfg_.birthday_probes == 0 || punch.birthday) return;
    NatInfo mine = io_.own_nat();
    bool we_hard = hard(mine) && easy(their_nat);
    bool we_easy = easy(mine) && hard(their_nat);
    if (!we_hard && !we_easy) return;
    // The peer's public endpoint: where the rendezvous node saw it, else its reflexive candidate.
    std::optional<base::Endpoint> pub;
    if (seen && seen->port != 0 && !seen->is_private()) pub = seen;
    for (auto& c : theirs)
        if (!pub && c.kind == Candidate::Kind::reflexive) pub = c.endpoint;
    for (auto& c : theirs)
        if (!pub && !c.endpoint.is_private()) pub = c.endpoint;  // a firewalled host's own address
    if (!pub || behind_our_nat(*pub)) return;
    if (now < birthday_free_at_) {
        KC_LOG(log_, info, "connect", "no birthday attempt with %s: another ran less than %lld s ago",
               short_id(key).c_str(), static_cast<long long>(base::to_ms_int(cfg_.birthday_gap) / 1000));
        return;
    }
    Birthday b;
    b.free_before = birthday_free_at_;
    b.hard = we_hard;
    b.to = *pub;
    b.start = now + cfg_.birthday_after;
    b.next = b.start;
    punch.birthday = b;
    punch.until = std::max(punch.until, b.start + cfg_.birthday_for);
    birthday_free_at_ = b.start + cfg_.birthday_for + cfg_.birthday_gap;
    ++stats_.birthdays;
    KC_LOG(log_, info, "connect", "birthday attempt with %s as the %s side: %s %s in %lld ms",
           short_id(key).c_str(), we_hard ? "hard" : "easy",
           we_hard ? "many sockets towards" : "random ports of", pub->to_string().c_str(),
           static_cast<long long>(base::to_ms_int(cfg_.birthday_after)));
}

// One packet every 1/birthday_rate: the hard side opens its next socket and pings from it, then
// pings from its sockets in turn (keeping their mappings alive); the easy side pings a port it
// has not tried. Returns when to come back.
base::TimePoint Connector::run_birthday(Punch& punch, Attempt* a, base::TimePoint now) {
    Birthday& b = *punch.birthday;
    if (b.done) return base::kNever;
    if (now < b.start) return b.start;
    if (now >= b.start + cfg_.birthday_for || b.sent >= cfg_.birthday_probes) {
        end_birthday(punch, now);
        return base::kNever;
    }
    const auto every = std::chrono::duration_cast<base::Duration>(std::chrono::duration<double>(1.0 / cfg_.birthday_rate));
    // A late tick catches up a little, never in a burst.
    if (b.next + 5 * every < now) b.next = now - 5 * every;
    while (now >= b.next && b.sent < cfg_.birthday_probes) {
        b.next += every;
        if (b.hard) {
            if (b.sockets.size() < cfg_.birthday_sockets && !b.no_more_sockets) {
                SocketId s = io_.open_socket(cfg_.birthday_for + std::chrono::seconds(5));
                if (s != 0) {
                    b.sockets.push_back(s);
                    ++stats_.birthday_sockets;
                    b.turn = b.sockets.size() - 1;
                } else {
                    b.no_more_sockets = true;
                    KC_LOG(log_, info, "connect", "birthday: no more sockets after %zu", b.sockets.size());
                }
            }
            if (b.sockets.empty()) {
                end_birthday(punch, now);
                return base::kNever;
            }
            SocketId s = b.sockets[b.turn % b.sockets.size()];
            ++b.turn;
            send_ping(punch, b.to, a, s);
        } else {
            if (b.ports.size() >= kPorts) break;
            uint16_t port;
            do port = static_cast<uint16_t>(kFirstPort + rng_.uniform(kPorts));
            while (b.ports.count(port));
            b.ports.insert(port);
            base::Endpoint to = b.to;
            to.port = port;
            send_ping(punch, to, a, 0);
        }
        ++b.sent;
    }
    return b.next;
}

// Like send_probe, but counted apart: the ordinary probes keep their own budget.
void Connector::send_ping(Punch& punch, const base::Endpoint& to, Attempt* a, SocketId from) {
    Probe pr{false, punch.tag, punch.seq++};
    io_.send_probe(to, encode_probe(pr, punch.key), from);
    ++stats_.birthday_packets;
    if (a) ++a->probes;
}

// The attempt is over (a session came up, the window closed, or it failed): the extra sockets
// go back; the host keeps the one a session runs on.
void Connector::end_birthday(Punch& punch, base::TimePoint now) {
    if (!punch.birthday || punch.birthday->done) return;
    // The next may start birthday_gap after this one ended; one that never sent a packet (an
    // easier path won first) costs nothing.
    if (punch.birthday->sent == 0)
        birthday_free_at_ = punch.birthday->free_before;
    else
        birthday_free_at_ = std::min(birthday_free_at_, now + cfg_.birthday_gap);
    for (SocketId s : punch.birthday->sockets) io_.close_socket(s);
    punch.birthday->sockets.clear();
    punch.birthday->done = true;
}

void Connector::end_punches(Peer& p, base::TimePoint now) {
    if (p.attempt && p.attempt->punch) end_birthday(*p.attempt->punch, now);
    if (p.answered) end_birthday(*p.answered, now);
}

}  // namespace session
