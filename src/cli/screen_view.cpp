// What the full-screen client shows (cli/full_screen.hpp), read from the runtime's state at each
// redraw: contacts and their paths, the selected conversation, the status bar, pending requests.
#include <algorithm>

#include "cli/full_screen.hpp"
#include "cli/printable.hpp"
#include "cli/runtime.hpp"
#include "dht/nat.hpp"
#include "session/link.hpp"

namespace cli {

namespace {
constexpr size_t kShownMessages = 500;  // the conversation's scrollback on screen
}

ScreenView Runtime::screen_view() {
    ScreenView v;
    if (!chat_) return v;
    // Shown, so read (an unread count on screen for the open conversation would be a lie): marked
    // before the contact list counts them.
    if (selected_ && chat_->history().unread(*selected_) > 0) (void)chat_->history().mark_read(*selected_);
    std::map<crypto::PublicKey, session::SessionTable::PeerInfo> live;
    for (auto& p : sessions().peers()) live.emplace(p.peer, p);
    std::vector<ScreenView::Contact> requests, contacts;
    for (auto& [key, c] : chat_->contacts().all()) {
        if (c.state == chat::ContactState::blocked) continue;
        ScreenView::Contact sc{key, c.name, "offline", chat_->history().unread(key)};
        if (auto it = live.find(key); it != live.end())
            sc.state = it->second.link.path == session::Path::relay ? "relay" : "direct";
        if (c.state == chat::ContactState::request) {
            sc.state = "request";
            v.requests.push_back(c.name);
            requests.push_back(sc);
        } else {
            contacts.push_back(sc);
        }
    }
    auto by_name = [](const ScreenView::Contact& a, const ScreenView::Contact& b) { return a.name < b.name; };
    std::sort(requests.begin(), requests.end(), by_name);
    std::sort(contacts.begin(), contacts.end(), by_name);
    v.contacts = std::move(requests);  // requests first: they wait for an answer
    v.contacts.insert(v.contacts.end(), contacts.begin(), contacts.end());
    v.selected = selected_;

    auto& node = this->node();
    const auto& nat = node.nat();
    v.status = std::string(" ") + dht::join_state_name(node.join_state()) + " · " + std::to_string(node.table().size()) +
               " DHT contacts · NAT " + dht::mapping_name(nat.mapping()) + "/" + dht::filtering_name(nat.filtering());
    if (selected_) {
        v.status += " · " + name_of(*selected_) + ": ";
        if (auto it = live.find(*selected_); it != live.end()) {
            const auto& l = it->second.link;
            v.status += std::string(session::path_name(l.path)) + " (" + session::method_name(l.method) + ")";
            if (it->second.rtt) v.status += " " + std::to_string(base::to_ms_int(*it->second.rtt)) + " ms";
        } else {
            v.status += "no session";
        }
        for (auto& e : chat_->history().conversation(*selected_, kShownMessages))
            v.conversation.push_back({e.ts_ms, e.incoming, e.incoming ? name_of(*selected_) : "me", printable(e.text), e.status});
    }
    return v;
}

}  // namespace cli
