#pragma once
// Messages written but not yet acknowledged, durable across kill -9 (outbox.log, a Journal):
//   {"op":"add", id, to, text, ts, seq, expires}  the message, before anything is sent. It is
//                                                 sealed only if it must go to a mailbox or to a
//                                                 peer without "text" (PROTOCOL.md §15); files
//                                                 from before that hold the envelope, `env`
//   {"op":"stored", id}                           a copy sits in the recipient's DHT mailbox
//   {"op":"done", id, "status"}                   delivered (acknowledged) or expired; for a
//                                                 receipt: sent, stored or expired
//   {"op":"receipt", id, to, acks, env, expires}  a receipt owed for messages taken from our
//                                                 mailbox (PROTOCOL.md §15): acks over a session,
//                                                 or `env` into the sender's mailbox
// At open, a file with finished messages is compacted (rewritten with the pending ones only)
// unless it holds damaged lines: those are reported and the file is left as it is.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "chat/journal.hpp"
#include "crypto/envelope.hpp"

namespace chat {

struct OutboxItem {
    crypto::MessageId id{};
    crypto::PublicKey to{};
    std::string text;               // empty in records written before "text" payloads
    std::vector<uint8_t> envelope;  // sealed when first needed (kept in memory), or from an old record
    uint64_t ts_ms = 0, seq = 0, expires_ms = 0;
    bool stored = false;  // in the DHT mailbox
    uint64_t order = 0;   // write order in this process (set by the Outbox)
};

// Receipts owed: the sender of messages we took from our mailbox must learn that we have them.
struct ReceiptItem {
    crypto::MessageId id{};  // the receipt's own envelope ID (its mailbox slot)
    crypto::PublicKey to{};  // who sent the messages
    std::vector<crypto::MessageId> acks;
    std::vector<uint8_t> envelope;  // sealed to `to`: {"receipt": [ids]}
    uint64_t expires_ms = 0;
};

class Outbox {
public:
    static base::Result<Outbox> open(const std::string& path, std::vector<std::string>& problems);
    // Appends are durable when `group` says so, not when the call returns (see GroupCommit).
    void defer_sync(GroupCommit* group) { journal_->defer_sync(group); }
    base::Status add(const OutboxItem& item);
    base::Status mark_stored(const crypto::MessageId& id);
    // Keeps a message's envelope in memory once sealed (not written: it can be sealed again).
    void keep_envelope(const crypto::MessageId& id, std::vector<uint8_t> envelope);
    // Removes the message; `status` ("delivered", "expired") is recorded.
    base::Status finish(const crypto::MessageId& id, const std::string& status);
    // Forgets the message in memory only, when even finish() could not be written (a full
    // disk): the journal still holds it, and the owner drops it again at the next start.
    void forget(const crypto::MessageId& id);

    base::Status add_receipt(const ReceiptItem& r);
    base::Status finish_receipt(const crypto::MessageId& id, const std::string& status);
    const ReceiptItem* find_receipt(const crypto::MessageId& id) const;
    std::vector<const ReceiptItem*> receipts() const;
    std::vector<const ReceiptItem*> receipts_for(const crypto::PublicKey& to) const;

    const OutboxItem* find(const crypto::MessageId& id) const;
    // Pending messages, in the order they were written.
    std::vector<const OutboxItem*> pending() const;
    // ... to one recipient, from write order `from` on (a sender's resume point).
    std::vector<const OutboxItem*> pending_for(const crypto::PublicKey& to, uint64_t from = 0) const;
    size_t size() const { return items_.size(); }

private:
    explicit Outbox(Journal j) : journal_{std::make_unique<Journal>(std::move(j))} {}
    std::unique_ptr<Journal> journal_;
    uint64_t next_order_ = 0;
    std::map<uint64_t, OutboxItem> items_;             // write order -> item
    crypto::IdMap<uint64_t> order_of_;   // id -> write order
    std::map<uint64_t, ReceiptItem> receipts_;          // write order -> receipt
    crypto::IdMap<uint64_t> receipt_order_;
};

}  // namespace chat
