#pragma once
// The thin join between chat::Messenger (sans-I/O) and the running node: its Effects go to the
// session host (send; want and release, which the connector turns into attempts) and to the DHT
// node (mailboxes); session events and chat payloads come back. Every answer reaches the
// Messenger from the loop turn (post()), never from inside one of its own calls. Owns the chat
// files under DATA/chat/.
//
// Durability (group commit): the outbox and history journals write without syncing, and every
// Effect that depends on what they wrote (a payload sent, a mailbox put or removal, a notice
// shown) is held until the batch holding those records is synced (chat::GroupCommit, synced off
// the loop thread by CommitSync). Sends are queued per peer in order; send() answers busy when
// a peer's queue is long, and the Messenger is told writable when it drains.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/logger.hpp"
#include "chat/group_commit.hpp"
#include "chat/messenger.hpp"
#include "cli/commit_sync.hpp"
#include "cli/node_host.hpp"
#include "cli/session_host.hpp"
#include "dht/contact.hpp"
#include "net/loop_turn.hpp"

namespace cli {

class ChatHost final : public chat::Effects {
public:
    ChatHost(NodeHost& dht, SessionHost& sessions, net::Loop& loop, net::LoopTurn& turn, base::Rng& rng,
             base::Logger& log);
    ~ChatHost() override;
    // Opens DATA/chat/{contacts.log,outbox.log,history/}. Damage inside the files is reported
    // (problems()), not fatal; a directory or file that cannot be opened is.
    base::Status start(const std::string& data_dir, const crypto::Identity& me);

    // The Messenger, to call into: it is ticked on this loop turn.
    chat::Messenger& messenger() {
        if (core_) core_->mark();
        return *messenger_;
    }
    chat::Contacts& contacts() { return *contacts_; }
    chat::History& history() { return *history_; }
    const std::vector<std::string>& problems() const { return problems_; }
    const chat::GroupCommit::Counts& commit_counts() const { return commit_.counts(); }
    static chat::Clock clock();

    // Called when the node's DHT join completes (and again after a re-join).
    std::function<void()> on_joined;
    // Called for every notice (after the waiters below have seen it).
    std::function<void(const chat::Notice&)> on_notice;
    // Runs `fn(true)` once everything the chat wrote so far is durable (false: the sync failed).
    void after_durable(std::function<void(bool)> fn) { commit_.after_durable(std::move(fn)); }
    // Runs `fn` once the message is delivered (true) or `timeout_ms` passes (false).
    void wait_delivered(const crypto::MessageId& id, uint64_t timeout_ms, std::function<void(bool)> fn);

    // Session events, from the Runtime.
    void session_up(const crypto::PublicKey& peer);
    void session_down(const crypto::PublicKey& peer);
    void writable(const crypto::PublicKey& peer);
    void connecting(const crypto::PublicKey& peer);
    void unreachable(const crypto::PublicKey& peer, const std::string& why);
    void payload(const crypto::PublicKey& peer, const chat::Payload& p);

    // chat::Effects
    Sent send(const crypto::PublicKey& peer, const std::string& payload) override;
    void want(const crypto::PublicKey& peer) override;
    void release(const crypto::PublicKey& peer) override;
    void mailbox_put(const crypto::PublicKey& owner, const std::string& slot, const std::string& value,
                     base::Duration ttl) override;
    void mailbox_fetch() override;
    void mailbox_remove(const std::vector<std::string>& slots) override;
    void notify(const chat::Notice& n) override;

private:
    static constexpr size_t kHeldBytes = size_t{1} << 20;  // per peer, waiting for a sync or for room
    struct Outgoing {
        std::deque<std::pair<uint64_t, std::string>> queue;  // (sequence, payload), in send order
        uint64_t ready = 0;   // payloads up to this sequence are durable: send them
        size_t bytes = 0;
        bool busy = false;    // send() said busy: tell the Messenger when there is room
    };
    void released(const crypto::PublicKey& peer, uint64_t seq, bool durable);
    void flush(const crypto::PublicKey& peer);
    void show(const chat::Notice& n);
    void post(std::function<void()> fn);
    base::TimePoint tick(base::TimePoint now);

    NodeHost& dht_;
    SessionHost& sessions_;
    net::Loop& loop_;
    net::LoopTurn& turn_;
    base::Rng& rng_;
    base::Logger& log_;
    std::vector<std::string> problems_;
    chat::GroupCommit commit_;
    std::unique_ptr<CommitSync> syncer_;
    std::map<crypto::PublicKey, Outgoing> out_;
    std::set<crypto::PublicKey> released_;  // peers with payloads made durable, to be flushed this turn
    uint64_t out_seq_ = 0;
    std::unique_ptr<chat::Contacts> contacts_;
    std::unique_ptr<chat::History> history_;
    std::unique_ptr<chat::Outbox> outbox_;
    std::unique_ptr<chat::Messenger> messenger_;
    std::unique_ptr<net::LoopTurn::Core> core_;
    std::vector<std::function<void()>> posted_;
    std::vector<dht::NodeInfo> holders_;  // who answered the last mailbox fetch
    bool was_connected_ = false;  // the DHT join state at the last tick: a new join fetches mail
    struct Waiter {
        std::function<void(bool)> fn;
        std::unique_ptr<net::Timer> timeout;
    };
    std::multimap<crypto::MessageId, std::shared_ptr<Waiter>> waiters_;
};

}  // namespace cli
