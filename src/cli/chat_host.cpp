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
    syncer_.reset();  // a batch in flight completes in the thread pool
    // What was written and not yet synced is synced now, on the way out.
    if (!commit_.in_flight())
        if (auto st = commit_.sync_now(); !st.ok()) KC_LOG(log_, error, "chat", "%s", st.detail().c_str());
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
    history_->defer_sync(&commit_);
    outbox_->defer_sync(&commit_);
    syncer_ = std::make_unique<CommitSync>(loop_, commit_, [this](const std::string& why) {
        KC_LOG(log_, error, "chat", "%s; messages since the last sync are resent later", why.c_str());
    });
    commit_.on_dirty = [this] {
        if (core_) core_->mark();
    };
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
    syncer_->kick();  // what this turn wrote is synced while the loop goes on
    if (!posted_.empty()) return now.mono;
    return next;
}

void ChatHost::session_up(const crypto::PublicKey& peer) {
    post([this, peer] { messenger_->on_connected(peer, clock()); });
}
void ChatHost::session_down(const crypto::PublicKey& peer) {
    out_.erase(peer);  // the Messenger sends everything unacknowledged again on the next session
    post([this, peer] { messenger_->on_disconnected(peer, clock()); });
}
void ChatHost::writable(const crypto::PublicKey& peer) {
    flush(peer);
    if (out_.count(peer)) return;  // flush() tells the Messenger once its queue drains
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
    if (!sessions_.connected(peer)) {
        out_.erase(peer);
        return Sent::no_session;
    }
    auto& o = out_[peer];
    if (o.bytes >= kHeldBytes) {
        o.busy = true;
        return Sent::busy;
    }
    uint64_t seq = ++out_seq_;
    o.queue.emplace_back(seq, payload);
    o.bytes += payload.size();
    commit_.after_durable([this, peer, seq](bool durable) { released(peer, seq, durable); });
    return Sent::ok;
}

void ChatHost::released(const crypto::PublicKey& peer, uint64_t seq, bool durable) {
    auto it = out_.find(peer);
    if (it == out_.end()) return;
    auto& o = it->second;
    if (!durable) {
        // Not on disk, so not sent: the Messenger resends unacknowledged messages (ack timeout,
        // next session), and a resent message is acknowledged again.
        while (!o.queue.empty() && o.queue.front().first <= seq) {
            o.bytes -= o.queue.front().second.size();
            o.queue.pop_front();
        }
    } else {
        o.ready = std::max(o.ready, seq);
    }
    // One flush per peer after the whole batch's callbacks, not one per message: the payloads a
    // sync made ready then leave corked, in one TCP write (a burst of 1,000 messages and their
    // acks was about 2,000 writes).
    if (released_.insert(peer).second && released_.size() == 1) {
        post([this] {
            auto peers = std::move(released_);
            released_.clear();
            for (auto& p : peers) flush(p);
        });
    }
}

void ChatHost::flush(const crypto::PublicKey& peer) {
    auto it = out_.find(peer);
    if (it == out_.end()) return;
    auto& o = it->second;
    sessions_.cork();  // all that is ready leaves in one write
    while (!o.queue.empty() && o.queue.front().first <= o.ready) {
        auto& p = o.queue.front().second;
        auto st = sessions_.send(peer, {reinterpret_cast<const uint8_t*>(p.data()), p.size()});
        if (!st.ok()) {
            sessions_.uncork();
            if (st.code() == base::Errc::limit) return;  // on_room -> writable() -> here again
            out_.erase(it);                             // the session is gone: session_down follows
            return;
        }
        o.bytes -= p.size();
        o.queue.pop_front();
    }
    sessions_.uncork();
    if (o.busy && o.bytes < kHeldBytes / 2) {
        o.busy = false;
        post([this, peer] { messenger_->on_writable(peer, clock()); });
    }
    if (o.queue.empty() && !o.busy) out_.erase(it);
}

void ChatHost::want(const crypto::PublicKey& peer) {
    post([this, peer] { sessions_.want(peer, session::Want::chat); });
}

void ChatHost::release(const crypto::PublicKey& peer) {
    post([this, peer] { sessions_.release(peer, session::Want::chat); });
}

void ChatHost::mailbox_put(const crypto::PublicKey& owner, const std::string& slot, const std::string& value,
                           base::Duration ttl) {
    commit_.after_durable([this, owner, slot, value, ttl](bool durable) {
        if (!durable) return post([this, slot] { messenger_->on_mailbox_put(slot, 0, clock()); });
        post([this, owner, slot, value, ttl] {
        dht_.node().mailbox_put(dht::NodeId{owner}, slot, value, ttl, [this, slot](const dht::PutResult& r) {
            if (r.stored == 0)
                KC_LOG(log_, info, "chat", "mailbox store failed: %s",
                       r.errors.empty() ? "no node answered" : r.errors.front().c_str());
            post([this, slot, n = r.stored] { messenger_->on_mailbox_put(slot, n, clock()); });
        }, base::steady_now());
        });
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
    // Only once what was taken from the mailbox is in our history on disk.
    commit_.after_durable([this, slots](bool durable) {
        if (durable) post([this, slots] { dht_.node().mailbox_remove(holders_, slots, [](size_t) {}, base::steady_now()); });
    });
}

// What the user is shown (a message, a status) is on disk first. Except "delivered": the
// message it is about left only after its record was durable, and were the status record lost
// in a crash, the restarted node resends, the peer acknowledges again, and it is delivered again.
void ChatHost::notify(const chat::Notice& n) {
    if (n.kind == chat::Notice::Kind::status && n.entry.status == "delivered") return show(n);
    commit_.after_durable([this, n](bool) { show(n); });
}

void ChatHost::show(const chat::Notice& n) {
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
