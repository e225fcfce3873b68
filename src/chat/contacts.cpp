#include "chat/contacts.hpp"

#include <nlohmann/json.hpp>

#include "base/hex.hpp"
#include "crypto/address.hpp"

namespace chat {

namespace {
using json = nlohmann::json;

std::optional<ContactState> state_of(const std::string& s) {
    if (s == "contact") return ContactState::contact;
    if (s == "request") return ContactState::request;
    if (s == "blocked") return ContactState::blocked;
    return std::nullopt;
}

bool all_hex(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}
}  // namespace

const char* contact_state_name(ContactState s) {
    switch (s) {
        case ContactState::contact: return "contact";
        case ContactState::request: return "request";
        case ContactState::blocked: return "blocked";
    }
    return "?";
}

std::string default_name(const PublicKey& key) { return base::to_hex(std::span<const uint8_t>{key}).substr(0, 8); }

base::Result<Contacts> Contacts::open(const std::string& path, std::vector<std::string>& problems) {
    Journal::Recovered rec;
    auto j = Journal::open(path, rec);
    if (!j) return j.status();
    for (auto& p : rec.problems) problems.push_back(path + ": " + p);
    Contacts c{std::move(*j)};
    size_t n = 0;
    for (auto& r : rec.records) {
        ++n;
        try {
            auto o = json::parse(r);
            PublicKey k{};
            if (!base::from_hex_exact(o.at("key").get<std::string>(), k)) throw std::runtime_error("bad key");
            if (o.value("removed", false)) {
                c.by_key_.erase(k);
                continue;
            }
            auto st = state_of(o.at("state").get<std::string>());
            if (!st) throw std::runtime_error("bad state");
            c.by_key_[k] = Contact{k, o.at("name").get<std::string>(), *st, o.value("since_ms", uint64_t{0})};
        } catch (const std::exception& e) {
            problems.push_back(path + ": record " + std::to_string(n) + " unreadable (" + e.what() + "), skipped");
        }
    }
    return c;
}

base::Status Contacts::write(const Contact& c, bool removed) {
    json o = {{"key", base::to_hex(std::span<const uint8_t>{c.key})}, {"name", c.name},
              {"state", contact_state_name(c.state)}, {"since_ms", c.since_ms}};
    if (removed) o["removed"] = true;
    return journal_.append(o.dump(-1, ' ', false, json::error_handler_t::replace));
}

base::Status Contacts::add(const PublicKey& key, std::string name, uint64_t now_ms) {
    auto existing = by_key_.find(key);
    if (name.empty()) name = existing != by_key_.end() ? existing->second.name : default_name(key);
    if (name.size() > 64 || name.find_first_of(" \t\r\n/") != std::string::npos)
        return base::invalid_argument("a name is 1 to 64 characters without spaces or '/'");
    for (auto& [k, c] : by_key_)
        if (k != key && c.name == name) return {base::Errc::exists, "the name '" + name + "' is taken"};
    Contact c{key, std::move(name), ContactState::contact, now_ms};
    if (auto st = write(c, false); !st.ok()) return st;
    by_key_[key] = std::move(c);
    return {};
}

base::Status Contacts::note_request(const PublicKey& key, uint64_t now_ms) {
    if (by_key_.count(key)) return {};
    std::string name = default_name(key);
    for (auto& [k, c] : by_key_)
        if (c.name == name) name.append("-").append(std::to_string(now_ms % 1000));
    Contact c{key, name, ContactState::request, now_ms};
    if (auto st = write(c, false); !st.ok()) return st;
    by_key_[key] = std::move(c);
    return {};
}

base::Status Contacts::block(const PublicKey& key, uint64_t now_ms) {
    Contact c = by_key_.count(key) ? by_key_[key] : Contact{key, default_name(key), ContactState::blocked, now_ms};
    c.state = ContactState::blocked;
    c.since_ms = now_ms;
    if (auto st = write(c, false); !st.ok()) return st;
    by_key_[key] = std::move(c);
    return {};
}

base::Status Contacts::remove(const PublicKey& key, uint64_t now_ms) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return base::not_found("not a contact");
    Contact c = it->second;
    c.since_ms = now_ms;
    if (auto st = write(c, true); !st.ok()) return st;
    by_key_.erase(it);
    return {};
}

const Contact* Contacts::find(const PublicKey& key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second;
}

base::Result<PublicKey> Contacts::resolve(const std::string& text, std::vector<ContactState> states) const {
    auto allowed = [&](const Contact& c) {
        for (auto s : states)
            if (c.state == s) return true;
        return false;
    };
    if (text.empty()) return base::invalid_argument("no contact given");
    for (auto& [k, c] : by_key_)
        if (c.name == text && allowed(c)) return k;
    if (text.rfind("kc1", 0) == 0 || text.size() == 64) {
        auto pk = crypto::parse_peer(text);
        if (!pk) return pk.status();
        auto it = by_key_.find(*pk);
        if (it == by_key_.end() || !allowed(it->second)) {
            std::string why = "'";  // appended, not chained with +: GCC 12 warns falsely (-Wrestrict)
            why.append(text, 0, 16).append("…' is not among them; add it first");
            return base::not_found(why);
        }
        return *pk;
    }
    if (all_hex(text) && text.size() >= 4) {
        std::optional<PublicKey> hit;
        for (auto& [k, c] : by_key_) {
            if (!allowed(c)) continue;
            std::string hex = base::to_hex(std::span<const uint8_t>{k});
            if (hex.compare(0, text.size(), text) == 0 || hex.compare(0, text.size(), [&] {
                    std::string l = text;
                    for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                    return l;
                }()) == 0) {
                if (hit) return base::invalid_argument("'" + text + "' matches more than one; give more digits");
                hit = k;
            }
        }
        if (hit) return *hit;
    }
    return base::not_found("no contact named '" + text + "' (a name, an address, or an ID prefix of 4+ hex digits)");
}

}  // namespace chat
