#include "cli/chat_host.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "cli/runtime.hpp"

namespace cli {

ChatHost::ChatHost(Runtime& rt, net::Loop& loop, base::Rng& rng, base::Logger& log)
    : rt_{rt}, loop_{loop}, rng_{rng}, log_{log} {}

ChatHost::~ChatHost() {
    for (auto& [id, w] : waiters_) w->timeout.reset();
}

chat::Clock ChatHost::clock() {
    auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return {base::steady_now(), static_cast<uint64_t>(wall.count())};
}

base::Status ChatHost::start(const std::string& data_dir, const crypto::Identity& me) {
    std::string dir = data_dir + "/chat";
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return base::io_error("cannot create " + dir + ": " + std::strerror(errno));
    auto c = chat::Contacts::open(dir + "/contacts.log", problems_);
    if (!c) return c.status();
    auto h = chat::History::open(dir + "/history", problems_);
    if (!h) return h.status();
    auto o = chat::Outbox::open(dir + "/outbox.log", problems_);
    if (!o) return o.status();
    for (auto& p : problems_) KC_LOG(log_, warn, "chat", "damaged data: %s", p.c_str());
    contacts_ = std::make_unique<chat::Contacts>(std::move(*c));
    history_ = std::make_unique<chat::History>(std::move(*h));
    outbox_ = std::make_unique<chat::Outbox>(std::move(*o));
    messenger_ = std::make_unique<chat::Messenger>(me, *contacts_, *history_, *outbox_, *this, rng_, log_);
    auto t = net::Timer::make(loop_, [this] { kick(); });
    if (!t) return t.status();
    timer_ = std::move(*t);
    auto p = net::Timer::make(loop_, [this] {
        auto fns = std::move(posted_);
        posted_.clear();
        for (auto& fn : fns) fn();
        kick();
    });
    if (!p) return p.status();
    post_timer_ = std::move(*p);
    if (outbox_->size() > 0)
        KC_LOG(log_, info, "chat", "%zu message(s) in the outbox from an earlier run; delivering", outbox_->size());
    post([] {});
    return {};
}

void ChatHost::post(std::function<void()> fn) {
    posted_.push_back(std::move(fn));
    if (post_timer_) post_timer_->start(0);
}

void ChatHost::kick() {
    if (!messenger_) return;
    auto now = clock();
    auto state = rt_.node().join_state();
    bool connected = state == dht::Node::JoinState::connected;
    if (connected && !was_connected_) {
        messenger_->fetch_soon(now);  // the mailbox is reachable now
        if (on_joined) on_joined();
    }
    was_connected_ = connected;
    if (!until_contact_.empty() && can_look_up()) {
        auto peers = std::move(until_contact_);
        until_contact_.clear();
        for (auto& p : peers) dial(p);
    }
    auto next = messenger_->tick(now);
    if (!until_contact_.empty() || state == dht::Node::JoinState::joining)
        next = std::min(next, now.mono + std::chrono::milliseconds(100));
    timer_->start(static_cast<uint64_t>(std::max<int64_t>(base::to_ms_int(next - now.mono), 0)) + 1);
}

void ChatHost::session_up(const crypto::PublicKey& peer) {
    post([this, peer] { messenger_->on_connected(peer, clock()); });
}
void ChatHost::session_down(const crypto::PublicKey& peer) {
    post([this, peer] { messenger_->on_disconnected(peer, clock()); });
}
void ChatHost::writable(const crypto::PublicKey& peer) {
    post([this, peer] { messenger_->on_writable(peer, clock()); });
}
void ChatHost::payload(const crypto::PublicKey& peer, const chat::Payload& p) {
    messenger_->on_payload(peer, p, clock());
    kick();
}
void ChatHost::dht_joined() {
    post([this] { messenger_->fetch_soon(clock()); });
}

chat::Effects::Sent ChatHost::send(const crypto::PublicKey& peer, const std::string& payload) {
    auto& s = rt_.sessions();
    if (!s.connected(peer)) return Sent::no_session;
    auto st = s.send(peer, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
    if (st.ok()) return Sent::ok;
    return st.code() == base::Errc::limit ? Sent::busy : Sent::no_session;
}

// A lookup needs someone to ask: while joining, wait for the first contact (the bootstrap node's
// answer), not for the whole join, whose self-lookup may be waiting out dead nodes' timeouts.
bool ChatHost::can_look_up() const {
    return rt_.node().join_state() != dht::Node::JoinState::joining || rt_.node().table().size() > 0;
}

void ChatHost::connect(const crypto::PublicKey& peer) {
    if (!can_look_up()) {
        until_contact_.push_back(peer);
        return;
    }
    dial(peer);
}

void ChatHost::dial(const crypto::PublicKey& peer) {
    post([this, peer] {
        rt_.open_session(peer, std::nullopt, [this, peer](base::Status st, double) {
            post([this, peer, st] {
                if (st.ok())
                    messenger_->on_connected(peer, clock());
                else
                    messenger_->on_unreachable(peer, st.detail(), clock());
            });
        });
    });
}

void ChatHost::mailbox_put(const crypto::PublicKey& owner, const std::string& slot, const std::string& value,
                           base::Duration ttl) {
    post([this, owner, slot, value, ttl] {
        rt_.node().mailbox_put(dht::NodeId{owner}, slot, value, ttl, [this, slot](const dht::PutResult& r) {
            if (r.stored == 0)
                KC_LOG(log_, info, "chat", "mailbox store failed: %s",
                       r.errors.empty() ? "no node answered" : r.errors.front().c_str());
            post([this, slot, n = r.stored] { messenger_->on_mailbox_put(slot, n, clock()); });
        }, base::steady_now());
        rt_.host().rearm();
    });
}

void ChatHost::mailbox_fetch() {
    post([this] {
        rt_.node().mailbox_fetch([this](const dht::LookupResult& r) {
            holders_ = r.closest;
            std::vector<chat::MailboxLetter> items;
            for (auto& v : r.values) items.push_back({v.publisher.bytes(), v.slot, v.data});
            post([this, items = std::move(items)] { messenger_->on_mailbox(items, clock()); });
        }, base::steady_now());
        rt_.host().rearm();
    });
}

void ChatHost::mailbox_remove(const std::vector<std::string>& slots) {
    post([this, slots] {
        rt_.node().mailbox_remove(holders_, slots, [](size_t) {}, base::steady_now());
        rt_.host().rearm();
    });
}

void ChatHost::notify(const chat::Notice& n) {
    if (n.kind == chat::Notice::Kind::status && n.entry.status == "delivered") {
        auto range = waiters_.equal_range(n.entry.id);
        std::vector<std::shared_ptr<Waiter>> ready;
        for (auto it = range.first; it != range.second; ++it) ready.push_back(it->second);
        waiters_.erase(range.first, range.second);
        for (auto& w : ready) {
            w->timeout->stop();
            post([w] { w->fn(true); });
        }
    }
    if (on_notice) on_notice(n);
}

void ChatHost::wait_delivered(const crypto::MessageId& id, uint64_t timeout_ms, std::function<void(bool)> fn) {
    auto w = std::make_shared<Waiter>();
    w->fn = std::move(fn);
    auto t = net::Timer::make(loop_, [this, id, wp = std::weak_ptr<Waiter>(w)] {
        auto w = wp.lock();
        if (!w) return;
        for (auto it = waiters_.begin(); it != waiters_.end(); ++it)
            if (it->second == w) {
                waiters_.erase(it);
                break;
            }
        post([w] { w->fn(false); });
    });
    if (!t) return fn(false);
    w->timeout = std::move(*t);
    w->timeout->start(timeout_ms);
    waiters_.emplace(id, std::move(w));
}

}  // namespace cli
