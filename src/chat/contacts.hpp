#pragma once
// The people this node talks to, and the strangers who wrote to it. Kept in a Journal
// (contacts.log): every change appends the contact's whole new state, the last record wins.
//   contact  — added by the user (ctl add) or accepted from a request
//   request  — wrote to us unasked; their messages are held, not shown, until accept or block
//   blocked  — further messages are dropped and counted
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "chat/journal.hpp"
#include "crypto/keys.hpp"

namespace chat {

using crypto::PublicKey;

enum class ContactState { contact, request, blocked };
const char* contact_state_name(ContactState s);

struct Contact {
    PublicKey key{};
    std::string name;  // unique among contacts; defaults to the first 8 hex digits of the key
    ContactState state = ContactState::contact;
    uint64_t since_ms = 0;  // wall clock of the last change
};

class Contacts {
public:
    // Opens (creating) `path`; damaged records are reported in `problems`, never fatal.
    static base::Result<Contacts> open(const std::string& path, std::vector<std::string>& problems);

    // Adds or renames a contact, or accepts a request / unblocks. Errc::exists if the name is taken.
    base::Status add(const PublicKey& key, std::string name, uint64_t now_ms);
    // Records a stranger's first message. No-op for anyone already known.
    base::Status note_request(const PublicKey& key, uint64_t now_ms);
    base::Status block(const PublicKey& key, uint64_t now_ms);
    // Forgets a contact, request or block. Errc::not_found if unknown.
    base::Status remove(const PublicKey& key, uint64_t now_ms);

    const Contact* find(const PublicKey& key) const;
    // A contact's name, its address (kc1...), its 64-hex ID, or a unique prefix of the ID
    // (at least 4 hex digits). Only entries in `states` match.
    base::Result<PublicKey> resolve(const std::string& text, std::vector<ContactState> states = {
                                                                 ContactState::contact}) const;
    const std::map<PublicKey, Contact>& all() const { return by_key_; }

private:
    explicit Contacts(Journal j) : journal_{std::move(j)} {}
    base::Status write(const Contact& c, bool removed);
    Journal journal_;
    std::map<PublicKey, Contact> by_key_;
};

std::string default_name(const PublicKey& key);

}  // namespace chat
