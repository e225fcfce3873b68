#include "cli/chat_host.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace cli {

ChatHost::ChatHost(NodeHost& dht, SessionHost& sessions, net::Loop& loop, net::LoopTurn& turn, base::Rng& rng,
                   base::Logger& log)
    : dht_{dht}, sessions_{sessions}, loop_{loop}, turn_{turn}, rng_{rng}, log_{log} {}

ChatHost::~ChatHost() {
    for (auto& [id, w] : waiters_) w->timeout.reset();
    core_.reset();
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
    auto core = turn_.add([this](base::TimePoint now) { return tick(now); });
    if (!core) return core.status();
    core_ = std::move(*core);
    if (outbox_->size() > 0)
        KC_LOG(log_, info, "chat", "%zu message(s) in the outbox from an earlier run; delivering", outbox_->size());
    core_->mark();
    return {};
}

void ChatHost::post(std::function<void()> fn) {
    posted_.push_back(std::move(fn));
    if (core_) core_->mark();
}

base::TimePoint ChatHost::tick(base::TimePoint) {
    if (!messenger_) return base::kNever;
    auto fns = std::move(posted_);
    posted_.clear();
    for (auto& fn : fns) fn();
    auto now = clock();
    auto state = dht_.peek().join_state();
    bool connected = state == dht::Node::JoinState::connected;
    if (connected && !was_connected_) {
        messenger_->fetch_soon(now);  // the mailbox is reachable now
        if (on_joined) on_joined();
    }
    was_connected_ = connected;
    auto next = messenger_->tick(now);
    // Watch the join, whose end fetches the mailbox.
    if (state == dht::Node::JoinState::joining) next = std::min(next, now.mono + std::chrono::milliseconds(100));
    if (!posted_.empty()) return now.mono;
    return next;
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
void ChatHost::connecting(const crypto::PublicKey& peer) {
    post([this, peer] { messenger_->on_connecting(peer, clock()); });
}
void ChatHost::unreachable(const crypto::PublicKey& peer, const std::string& why) {
    post([this, peer, why] { messenger_->on_unreachable(peer, why, clock()); });
}
void ChatHost::payload(const crypto::PublicKey& peer, const chat::Payload& p) {
    messenger().on_payload(peer, p, clock());
}

chat::Effects::Sent ChatHost::send(const crypto::PublicKey& peer, const std::string& payload) {
    if (!sessions_.connected(peer)) return Sent::no_session;
    auto st = sessions_.send(peer, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
    if (st.ok()) return Sent::ok;
    return st.code() == base::Errc::limit ? Sent::busy : Sent::no_session;
}

void ChatHost::want(const crypto::PublicKey& peer) {
    post([this, peer] { sessions_.want(peer, session::Want::chat); });
}

void ChatHost::release(const crypto::PublicKey& peer) {
    post([this, peer] { sessions_.release(peer, session::Want::chat); });
}

void ChatHost::mailbox_put(const crypto::PublicKey& owner, const std::string& slot, const std::string& value,
                           base::Duration ttl) {
    post([this, owner, slot, value, ttl] {
        dht_.node().mailbox_put(dht::NodeId{owner}, slot, value, ttl, [this, slot](const dht::PutResult& r) {
            if (r.stored == 0)
                KC_LOG(log_, info, "chat", "mailbox store failed: %s",
                       r.errors.empty() ? "no node answered" : r.errors.front().c_str());
            post([this, slot, n = r.stored] { messenger_->on_mailbox_put(slot, n, clock()); });
        }, base::steady_now());
    });
}

void ChatHost::mailbox_fetch() {
    post([this] {
        dht_.node().mailbox_fetch([this](const dht::LookupResult& r) {
            holders_ = r.closest;
            std::vector<chat::MailboxLetter> items;
            for (auto& v : r.values) items.push_back({v.publisher.bytes(), v.slot, v.data});
            post([this, items = std::move(items)] { messenger_->on_mailbox(items, clock()); });
        }, base::steady_now());
    });
}

void ChatHost::mailbox_remove(const std::vector<std::string>& slots) {
    post([this, slots] { dht_.node().mailbox_remove(holders_, slots, [](size_t) {}, base::steady_now()); });
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
