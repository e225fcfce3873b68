#include "session/probe.hpp"

#include <algorithm>

namespace session {

ProbeTag tag_of(const crypto::MessageId& nonce) {
    ProbeTag t{};
    std::copy_n(nonce.begin(), t.size(), t.begin());
    return t;
}

std::vector<uint8_t> encode_probe(const Probe& p, const PunchKey& key) {
    std::vector<uint8_t> out;
    out.reserve(kProbeSize);
    out.push_back(kProbeType);
    out.push_back(p.pong ? 2 : 1);
    out.insert(out.end(), p.tag.begin(), p.tag.end());
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(p.seq >> (8 * i)));
    auto mac = crypto::mac(std::span<const uint8_t, 32>{key}, out);
    out.insert(out.end(), mac.begin(), mac.end());
    return out;
}

std::optional<ProbeTag> probe_tag(std::span<const uint8_t> d) {
    if (d.size() != kProbeSize || d[0] != kProbeType) return std::nullopt;
    ProbeTag t{};
    std::copy_n(d.begin() + 2, t.size(), t.begin());
    return t;
}

std::optional<Probe> decode_probe(std::span<const uint8_t> d, const PunchKey& key) {
    auto tag = probe_tag(d);
    if (!tag || (d[1] != 1 && d[1] != 2)) return std::nullopt;
    auto mac = crypto::mac(std::span<const uint8_t, 32>{key}, d.first(kProbeSize - crypto::kMacSize));
    if (!crypto::equal(mac, d.subspan(kProbeSize - crypto::kMacSize))) return std::nullopt;
    Probe p;
    p.pong = d[1] == 2;
    p.tag = *tag;
    p.seq = uint32_t{d[10]} << 24 | uint32_t{d[11]} << 16 | uint32_t{d[12]} << 8 | d[13];
    return p;
}

}  // namespace session
