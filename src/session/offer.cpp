#include "session/offer.hpp"

#include <algorithm>

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include "base/hex.hpp"
#include "crypto/base64.hpp"

namespace session {

namespace {
constexpr uint64_t kMaxAgeMs = 120'000;
constexpr size_t kMaxPayload = 2000;
constexpr size_t kSeenNonces = 1024;
}  // namespace

const char* candidate_kind_name(Candidate::Kind k) {
    switch (k) {
        case Candidate::Kind::lan: return "lan";
        case Candidate::Kind::reflexive: return "reflexive";
    }
    return "?";
}

const char* nat_mapping_letter(NatMapping m) {
    switch (m) {
        case NatMapping::none: return "n";
        case NatMapping::independent: return "i";
        case NatMapping::dependent: return "d";
        case NatMapping::unknown: break;
    }
    return "u";
}

namespace {
base::Result<std::string> seal_all(const crypto::Identity& me, const crypto::PublicKey& peer, const Offer& offer,
                                   uint64_t wall_ms, base::Rng& rng) {
    nlohmann::ordered_json j;
    j["k"] = offer.answer ? "answer" : "offer";
    if (!offer.answer) j["key"] = base::to_hex(std::span<const uint8_t>{offer.key});
    auto c = nlohmann::ordered_json::array();
    for (size_t i = 0; i < offer.candidates.size() && i < kMaxCandidates; ++i)
        c.push_back({candidate_kind_name(offer.candidates[i].kind), offer.candidates[i].endpoint.to_string()});
    j["c"] = std::move(c);
    if (offer.nat.mapping != NatMapping::unknown) {
        j["m"] = nat_mapping_letter(offer.nat.mapping);
        j["f"] = offer.nat.filtered;
    }
    if (offer.birthday) j["b"] = true;
    std::string payload = j.dump();
    auto env = crypto::seal_envelope(me, peer, offer.nonce, wall_ms,
                                     {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}, rng);
    if (!env) return env.status();
    return crypto::to_base64url(std::span<const uint8_t>{*env});
}
}  // namespace

base::Result<std::string> seal_offer(const crypto::Identity& me, const crypto::PublicKey& peer, const Offer& offer,
                                     uint64_t wall_ms, base::Rng& rng) {
    // The connect that carries it must fit one 1,200-byte datagram (PROTOCOL.md §1): candidates
    // are left out until it does, the last LAN one first (a peer across the internet needs the
    // reflexive ones; one on our LAN usually sees only one of our LAN addresses anyway).
    Offer o = offer;
    if (o.candidates.size() > kMaxCandidates) o.candidates.resize(kMaxCandidates);
    for (;;) {
        auto text = seal_all(me, peer, o, wall_ms, rng);
        if (!text || text->size() <= kMaxOfferText || o.candidates.empty()) return text;
        auto lan = std::find_if(o.candidates.rbegin(), o.candidates.rend(),
                                [](const Candidate& c) { return c.kind == Candidate::Kind::lan; });
        o.candidates.erase(lan != o.candidates.rend() ? std::next(lan).base() : std::prev(o.candidates.end()));
    }
}

base::Result<Offer> OfferOpener::open(const std::string& text, const crypto::PublicKey& from, uint64_t wall_ms) {
    auto bytes = crypto::from_base64url(text);
    if (!bytes) return base::malformed("offer: not base64url");
    auto letter = opener_.open(*bytes);
    if (!letter) return letter.status();
    if (letter->sender != from) return base::Status{base::Errc::crypto, "offer: signed by someone else"};
    uint64_t ts = letter->timestamp_ms;
    if ((ts > wall_ms ? ts - wall_ms : wall_ms - ts) > kMaxAgeMs)
        return base::Status{base::Errc::malformed, "offer: stale or from the future"};
    if (letter->payload.size() > kMaxPayload) return base::malformed("offer: too large");
    simdjson::dom::parser parser;
    simdjson::padded_string padded(reinterpret_cast<const char*>(letter->payload.data()), letter->payload.size());
    simdjson::dom::element root;
    if (parser.parse(padded).get(root)) return base::malformed("offer: not JSON");
    simdjson::dom::object o;
    std::string_view kind;
    if (root.get_object().get(o) || o["k"].get_string().get(kind) || (kind != "offer" && kind != "answer"))
        return base::malformed("offer: no kind");
    Offer out;
    out.answer = kind == "answer";
    out.nonce = letter->id;
    if (!out.answer) {
        std::string_view key;
        if (o["key"].get_string().get(key) || !base::from_hex_exact(key, out.key))
            return base::malformed("offer: no punch key");
        if (seen_.count(out.nonce)) {
            out.repeated = true;
        } else {
            seen_.insert(out.nonce);
            seen_order_.push_back(out.nonce);
            if (seen_order_.size() > kSeenNonces) {
                seen_.erase(seen_order_.front());
                seen_order_.erase(seen_order_.begin());
            }
        }
    }
    simdjson::dom::array cands;
    if (o["c"].get_array().get(cands)) return base::malformed("offer: no candidates");
    for (simdjson::dom::element c : cands) {
        simdjson::dom::array pair;
        std::string_view k, ep_text;
        if (c.get_array().get(pair) || pair.size() != 2 || pair.at(0).get_string().get(k) ||
            pair.at(1).get_string().get(ep_text))
            return base::malformed("offer: a candidate is not [kind, endpoint]");
        auto ep = base::Endpoint::parse(ep_text);
        if (!ep || ep->port == 0 || ep->is_unspecified()) return base::malformed("offer: a bad endpoint");
        Candidate cand;
        if (k == "lan")
            cand.kind = Candidate::Kind::lan;
        else if (k == "reflexive")
            cand.kind = Candidate::Kind::reflexive;
        else
            continue;  // a kind from a later version
        cand.endpoint = *ep;
        if (out.candidates.size() < kMaxCandidates) out.candidates.push_back(cand);
    }
    // The writer's NAT: optional (an older writer, or one that does not know yet), and a letter
    // from a later version reads as unknown.
    std::string_view m;
    if (!o["m"].get_string().get(m)) {
        if (m == "n") out.nat.mapping = NatMapping::none;
        else if (m == "i") out.nat.mapping = NatMapping::independent;
        else if (m == "d") out.nat.mapping = NatMapping::dependent;
        bool f = false;
        if (!o["f"].get_bool().get(f)) out.nat.filtered = f;
    }
    bool b = false;
    if (!o["b"].get_bool().get(b)) out.birthday = b;
    return out;
}

}  // namespace session
