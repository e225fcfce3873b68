#pragma once
// What two peers tell each other through a rendezvous node before they punch (PROTOCOL.md §16.6):
// the endpoints where each may be reached (its candidates) and, in the offer, the key that
// authenticates the probes of this attempt. Both travel sealed (crypto::seal_envelope): only the
// other peer can read them, and the signature proves who wrote them, so the rendezvous node can
// neither read nor forge a candidate. The envelope's message ID is the attempt's nonce; the answer
// repeats the offer's, so an answer belongs to exactly one offer. Sealed, at most kMaxOfferText
// characters of base64url.
#include <array>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/endpoint.hpp"
#include "base/rng.hpp"
#include "base/status.hpp"
#include "crypto/envelope.hpp"
#include "crypto/keys.hpp"

namespace session {

struct Candidate {
    enum class Kind : uint8_t { lan, reflexive };
    Kind kind = Kind::lan;
    base::Endpoint endpoint;  // UDP and TCP alike: both listen on the DHT's port
    friend bool operator==(const Candidate&, const Candidate&) = default;
};
const char* candidate_kind_name(Candidate::Kind k);

// What a peer's NAT does, as its own analysis found (dht::NatAnalysis), carried in offers and
// answers: both sides then know when a birthday attempt can help (PROTOCOL.md §16.9).
enum class NatMapping : uint8_t { unknown, none, independent, dependent };
struct NatInfo {
    NatMapping mapping = NatMapping::unknown;
    bool filtered = false;  // a node we never sent to cannot reach us
    friend bool operator==(const NatInfo&, const NatInfo&) = default;
};
const char* nat_mapping_letter(NatMapping m);

inline constexpr size_t kMaxCandidates = 8;
// Characters of a sealed offer or answer (base64url), so that a forwarded connect (or its reply)
// with an IPv6 endpoint fits 1,200 bytes (PROTOCOL.md §1): eight IPv4 or five long IPv6 candidates.
inline constexpr size_t kMaxOfferText = 760;
using PunchKey = std::array<uint8_t, 32>;

struct Offer {
    bool answer = false;
    crypto::MessageId nonce{};  // identifies the attempt
    PunchKey key{};             // offer only: authenticates the probes
    std::vector<Candidate> candidates;
    NatInfo nat;            // the writer's NAT (optional on the wire: unknown)
    bool birthday = false;  // the writer can take part in a birthday attempt now (§16.9)
    bool repeated = false;  // opened before (OfferOpener)
};

// Seals `offer` from `me` to `peer`; returns the base64url text that a connect carries, with as
// many of the candidates as fit kMaxOfferText.
base::Result<std::string> seal_offer(const crypto::Identity& me, const crypto::PublicKey& peer, const Offer& offer,
                                     uint64_t wall_ms, base::Rng& rng);

// Opens offers and answers addressed to one identity: checks the seal, that `from` wrote it,
// its age (at most two minutes either way: a replay later is refused), and that an offer's
// nonce was not seen before.
class OfferOpener {
public:
    explicit OfferOpener(const crypto::Identity& me) : opener_{me} {}
    // An offer seen before (it came through two rendezvous nodes, or it is replayed within its
    // two minutes) opens with `repeated` set.
    base::Result<Offer> open(const std::string& text, const crypto::PublicKey& from, uint64_t wall_ms);

private:
    crypto::EnvelopeOpener opener_;
    std::set<crypto::MessageId> seen_;
    std::vector<crypto::MessageId> seen_order_;
};

}  // namespace session
