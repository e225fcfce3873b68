#pragma once
// The thin join between chat::Messenger (sans-I/O) and the running node: its Effects go to the
// session manager (send, connect after a DHT lookup) and to the DHT node (mailboxes); session
// events and chat payloads come back. Every answer reaches the Messenger from a fresh loop turn
// (post()), never from inside one of its own calls. Owns the chat files under DATA/chat/.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/logger.hpp"
#include "chat/messenger.hpp"
#include "dht/contact.hpp"
#include "net/session_manager.hpp"
#include "net/udp_socket.hpp"

namespace cli {

class Runtime;

class ChatHost final : public chat::Effects {
public:
    ChatHost(Runtime& rt, net::Loop& loop, base::Rng& rng, base::Logger& log);
    ~ChatHost() override;
    // Opens DATA/chat/{contacts.log,outbox.log,history/}. Damage inside the files is reported
    // (problems()), not fatal; a directory or file that cannot be opened is.
    base::Status start(const std::string& data_dir, const crypto::Identity& me);

    chat::Messenger& messenger() { return *messenger_; }
    chat::Contacts& contacts() { return *contacts_; }
    chat::History& history() { return *history_; }
    const std::vector<std::string>& problems() const { return problems_; }
    static chat::Clock clock();
    // Runs the Messenger's timers now and re-arms its timer; call after any call into it.
    void kick();

    // Called when the node's DHT join completes (and again after a re-join).
    std::function<void()> on_joined;
    // Called for every notice (after the waiters below have seen it).
    std::function<void(const chat::Notice&)> on_notice;
    // Runs `fn` once the message is delivered (true) or `timeout_ms` passes (false).
    void wait_delivered(const crypto::MessageId& id, uint64_t timeout_ms, std::function<void(bool)> fn);

    // Session events, from the Runtime.
    void session_up(const crypto::PublicKey& peer);
    void session_down(const crypto::PublicKey& peer);
    void writable(const crypto::PublicKey& peer);
    void payload(const crypto::PublicKey& peer, const chat::Payload& p);
    void dht_joined();

    // chat::Effects
    Sent send(const crypto::PublicKey& peer, const std::string& payload) override;
    void connect(const crypto::PublicKey& peer) override;
    void mailbox_put(const crypto::PublicKey& owner, const std::string& slot, const std::string& value,
                     base::Duration ttl) override;
    void mailbox_fetch() override;
    void mailbox_remove(const std::vector<std::string>& slots) override;
    void notify(const chat::Notice& n) override;

private:
    void post(std::function<void()> fn);
    void dial(const crypto::PublicKey& peer);

    Runtime& rt_;
    net::Loop& loop_;
    base::Rng& rng_;
    base::Logger& log_;
    std::vector<std::string> problems_;
    std::unique_ptr<chat::Contacts> contacts_;
    std::unique_ptr<chat::History> history_;
    std::unique_ptr<chat::Outbox> outbox_;
    std::unique_ptr<chat::Messenger> messenger_;
    std::unique_ptr<net::Timer> timer_, post_timer_;
    std::vector<std::function<void()>> posted_;
    std::vector<dht::NodeInfo> holders_;
    // Connects asked for before the node knows any DHT contact: a lookup then would fail.
    std::vector<crypto::PublicKey> until_contact_;
    bool can_look_up() const;
    bool was_connected_ = false;  // the DHT join state at the last kick(): a new join fetches mail  // who answered the last mailbox fetch
    struct Waiter {
        std::function<void(bool)> fn;
        std::unique_ptr<net::Timer> timeout;
    };
    std::multimap<crypto::MessageId, std::shared_ptr<Waiter>> waiters_;
};

}  // namespace cli
