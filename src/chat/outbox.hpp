#pragma once
// Messages written but not yet acknowledged, durable across kill -9 (outbox.log, a Journal):
//   {"op":"add", id, to, env, ts, seq, expires}   the sealed envelope, before anything is sent
//   {"op":"stored", id}                           a copy sits in the recipient's DHT mailbox
//   {"op":"done", id, "status"}                   delivered (acknowledged) or expired
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
    std::vector<uint8_t> envelope;
    uint64_t ts_ms = 0, seq = 0, expires_ms = 0;
    bool stored = false;  // in the DHT mailbox
};

class Outbox {
public:
    static base::Result<Outbox> open(const std::string& path, std::vector<std::string>& problems);
    base::Status add(const OutboxItem& item);
    base::Status mark_stored(const crypto::MessageId& id);
    // Removes the message; `status` ("delivered", "expired") is recorded.
    base::Status finish(const crypto::MessageId& id, const std::string& status);

    const OutboxItem* find(const crypto::MessageId& id) const;
    // Pending messages, in the order they were written.
    std::vector<const OutboxItem*> pending() const;
    std::vector<const OutboxItem*> pending_for(const crypto::PublicKey& to) const;
    size_t size() const { return items_.size(); }

private:
    explicit Outbox(Journal j) : journal_{std::make_unique<Journal>(std::move(j))} {}
    std::unique_ptr<Journal> journal_;
    uint64_t next_order_ = 0;
    std::map<uint64_t, OutboxItem> items_;             // write order -> item
    std::map<crypto::MessageId, uint64_t> order_of_;   // id -> write order
};

}  // namespace chat
