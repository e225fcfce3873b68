#pragma once
// The chat protocol core, sans-I/O: what to do when the user sends, when a session comes up or
// fails, when a payload, an acknowledgement or a mailbox arrives, and when time passes. It
// writes the outbox and history (durable files) itself; everything that touches the network goes
// out through Effects, and the answers come back through the on_*() calls. The runtime joins it
// to the session manager and the DHT; the tests join two of them to a simulated network.
//
// Delivery (PROTOCOL.md §15): a message is written to the outbox before anything is sent. If a
// session with the recipient is up, it goes over it (with every earlier unacknowledged message to
// the same peer first, so order holds): as a "text" payload once the peer's hello said it takes
// them, else sealed in an envelope; otherwise the runtime is asked to connect
// (Effects::want: the runtime's connector looks the peer up and keeps trying, with its own
// backoff, until released). Each failed attempt is reported (on_unreachable); the message is then
// sealed and put in the recipient's DHT mailbox (status "stored") until an acknowledgement arrives
// ("delivered") or the message expires (30 days, "expired", shown).
// The receiver writes a message to its history before acknowledging it, and recognises resends
// by message ID: it acknowledges them again and shows nothing. Messages it takes from its
// mailbox are owed a receipt (kept in the outbox): acks over a session if one comes up within
// store_after, else a sealed receipt in the sender's mailbox. Whichever reaches the sender first
// marks the message delivered; later ones change nothing.
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/logger.hpp"
#include "base/rng.hpp"
#include "base/status.hpp"
#include "base/time.hpp"
#include "chat/contacts.hpp"
#include "chat/history.hpp"
#include "chat/outbox.hpp"
#include "chat/payload.hpp"
#include "crypto/envelope.hpp"

namespace chat {

using namespace std::chrono_literals;

inline constexpr size_t kMaxTextBytes = 4000;  // UTF-8 bytes of one message's text

struct Clock {
    base::TimePoint mono;  // timers
    uint64_t wall_ms = 0;  // timestamps and expiry, which must survive restarts
};

struct Notice {
    enum class Kind { message, request, status, problem };
    Kind kind = Kind::message;
    PublicKey peer{};
    Entry entry;       // message, request, status
    std::string text;  // problem
};

struct MailboxLetter {
    PublicKey sender{};  // the DHT publisher; the envelope says who really wrote it
    std::string slot;
    std::string data;    // hex of the sealed envelope
};

class Effects {
public:
    enum class Sent { ok, no_session, busy };
    virtual ~Effects() = default;
    virtual Sent send(const PublicKey& peer, const std::string& payload) = 0;
    // Find the peer and keep trying to open a session until release(): answer with
    // on_connecting() when an attempt starts, on_connected() or on_unreachable() when it ends.
    virtual void want(const PublicKey& peer) = 0;
    // Nothing more to say to the peer: stop trying (a live session stays).
    virtual void release(const PublicKey& peer) = 0;
    // Answer with on_mailbox_put(slot, how many nodes stored it).
    virtual void mailbox_put(const PublicKey& owner, const std::string& slot, const std::string& value,
                             base::Duration ttl) = 0;
    // Answer with on_mailbox(items).
    virtual void mailbox_fetch() = 0;
    virtual void mailbox_remove(const std::vector<std::string>& slots) = 0;
    virtual void notify(const Notice& n) = 0;
};

struct MessengerConfig {
    base::Duration expiry = 30 * 24h;
    base::Duration mailbox_ttl = 7 * 24h;
    base::Duration ack_timeout = 20s;      // sent on a live session and not acknowledged: send again
    base::Duration store_after = 2s;       // not sent on a session this long after it was written: store it in the mailbox meanwhile
    base::Duration fetch_every = 60s;      // own mailbox
    base::Duration restore_every = 12h;    // a stored message is put again (storing nodes churn)
};

class Messenger {
public:
    Messenger(const crypto::Identity& me, Contacts& contacts, History& history, Outbox& outbox, Effects& fx,
              base::Rng& rng, base::Logger& log, MessengerConfig cfg = {});

    // Seals, writes to the outbox and history, and starts delivery. Errors: unknown or blocked
    // contact, empty, oversized or non-UTF-8 text, or a disk that refuses the write.
    base::Result<Entry> send_text(const PublicKey& to, const std::string& text, Clock now);

    void on_connecting(const PublicKey& peer, Clock now);
    void on_connected(const PublicKey& peer, Clock now);
    void on_unreachable(const PublicKey& peer, const std::string& why, Clock now);
    void on_disconnected(const PublicKey& peer, Clock now);
    void on_writable(const PublicKey& peer, Clock now);
    void on_payload(const PublicKey& peer, const Payload& p, Clock now);
    void on_mailbox_put(const std::string& slot, size_t stored, Clock now);
    void on_mailbox(const std::vector<MailboxLetter>& items, Clock now);
    // Fetch the mailbox at the next tick (after joining the DHT, say).
    void fetch_soon(Clock now);
    // Runs timers; returns when to be called again.
    base::TimePoint tick(Clock now);

    struct Counts {
        uint64_t sent = 0, resent = 0, delivered = 0, stored = 0, expired = 0;
        uint64_t received = 0, duplicates = 0, requests = 0, blocked = 0;
        uint64_t undecryptable = 0, forged = 0, malformed = 0, wrong_sender = 0, stray_acks = 0;
        uint64_t mailbox_fetches = 0, mailbox_items = 0, write_errors = 0;
        uint64_t receipts_sent = 0, receipts_stored = 0, receipts_received = 0;
        uint64_t sent_as_text = 0, sealed = 0;  // payloads: "text" on a session; envelopes sealed
    };
    const Counts& counts() const { return counts_; }
    size_t pending() const { return outbox_.size(); }
    size_t sending() const;  // pending and not yet stored anywhere
    // Pending messages whose recipient is being connected to, or has them on a live session
    // unacknowledged: even a stored one may still be delivered directly in a moment.
    size_t on_the_way() const;

private:
    struct PeerState {
        bool wanted = false;      // Effects::want() was called, not yet release()
        bool connecting = false;  // an attempt is in progress
        bool up = false;          // a session is established
        bool takes_text = false;  // the peer's hello on this session said so
        bool hello_owed = false;  // ours, not yet sent on this session
        bool hello_ask = false;   // ... asking for the peer's (a new session) or not (an answer)
        int key_ok = -1;          // the peer's key converts to X25519 (so a letter can be sealed to it)
        std::vector<MessageId> acks;                  // to send once a session is up
        crypto::IdMap<base::TimePoint> sent;    // on the current session, unacknowledged
        uint64_t resume = 0;  // every pending item written before this order is in `sent`
    };
    void deliver(const PublicKey& peer, Clock now);
    void want(const PublicKey& peer, PeerState& ps);
    void store_in_mailbox(const OutboxItem& item, Clock now);
    // The item's envelope, sealed now if it was not yet (empty if it cannot be).
    const std::vector<uint8_t>& sealed(const OutboxItem& item);
    void store_receipt(const ReceiptItem& rc);
    void owe_receipt(const PublicKey& to, std::vector<MessageId> ids, Clock now);
    void acknowledged(const PublicKey& peer, const MessageId& id);
    // Opens, dedupes, stores and acknowledges one letter. False if it was refused.
    bool accept(const crypto::Letter& letter, const LetterBody& body, Clock now);
    void set_status(const PublicKey& peer, const MessageId& id, const std::string& status);
    void problem(const std::string& text);

    const crypto::Identity& me_;
    Contacts& contacts_;
    History& history_;
    Outbox& outbox_;
    Effects& fx_;
    base::Rng& rng_;
    base::Logger& log_;
    MessengerConfig cfg_;
    crypto::EnvelopeOpener opener_;
    PayloadDecoder decoder_;
    std::map<PublicKey, PeerState> peers_;
    crypto::IdSet putting_;                      // mailbox puts in progress
    crypto::IdMap<base::TimePoint> stored_at_;   // when each stored message was last put
    crypto::IdMap<base::TimePoint> waiting_since_;  // pending messages: first seen by this process
    bool fetching_ = false;
    base::TimePoint next_fetch_{};
    int early_fetches_ = 0;
    Counts counts_;
};


}  // namespace chat
