#include "chat/messenger.hpp"

#include <simdjson.h>

#include <algorithm>

#include "base/hex.hpp"

namespace chat {

namespace {
std::string hex(std::span<const uint8_t> b) { return base::to_hex(b); }
std::string slot_of(const MessageId& id) { return hex(id); }
std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
}  // namespace

Messenger::Messenger(const crypto::Identity& me, Contacts& contacts, History& history, Outbox& outbox,
                     Effects& fx, base::Rng& rng, base::Logger& log, MessengerConfig cfg)
    : me_{me}, contacts_{contacts}, history_{history}, outbox_{outbox}, fx_{fx}, rng_{rng}, log_{log},
      cfg_{cfg}, opener_{me} {
    for (auto* i : outbox_.pending())
        if (i->stored) stored_at_[i->id] = base::TimePoint{};  // put again after restore_every
}

size_t Messenger::sending() const {
    size_t n = 0;
    for (auto* i : outbox_.pending()) n += !i->stored;
    return n;
}

size_t Messenger::on_the_way() const {
    size_t n = 0;
    for (auto* i : outbox_.pending()) {
        auto it = peers_.find(i->to);
        n += it != peers_.end() && (it->second.connecting || it->second.up);
    }
    return n;
}

void Messenger::problem(const std::string& text) {
    KC_LOG(log_, warn, "chat", "%s", text.c_str());
    Notice n;
    n.kind = Notice::Kind::problem;
    n.text = text;
    fx_.notify(n);
}

base::Result<Entry> Messenger::send_text(const PublicKey& to, const std::string& text, Clock now) {
    const Contact* c = contacts_.find(to);
    if (!c || c->state != ContactState::contact)
        return base::not_found(c && c->state == ContactState::blocked ? "that sender is blocked; add it again first"
                                                                      : "not a contact; add it first");
    if (to == me_.public_key) return base::invalid_argument("that is this node's own address");
    if (text.empty()) return base::invalid_argument("empty message");
    if (text.size() > kMaxTextBytes)
        return base::Status{base::Errc::too_large, "message is " + std::to_string(text.size()) +
                                                       " bytes; the limit is " + std::to_string(kMaxTextBytes)};
    if (simdjson::validate_utf8(text.data(), text.size()) == false)
        return base::invalid_argument("message is not valid UTF-8");

    Entry e;
    rng_.fill(std::as_writable_bytes(std::span{e.id}));
    e.from = me_.public_key;
    e.to = to;
    e.text = text;
    e.ts_ms = now.wall_ms;
    e.seq = history_.next_seq(to);
    e.incoming = false;
    e.status = "sending";
    // Sealing waits until a mailbox or an old peer needs it; the recipient's key is checked now.
    PeerState& ps = peers_[to];
    if (ps.key_ok < 0) ps.key_ok = crypto::noise::static_public_of(to).has_value();
    if (!ps.key_ok) return base::invalid_argument("the recipient's key is not a valid public key");
    OutboxItem item;
    item.id = e.id;
    item.to = to;
    item.text = text;
    item.ts_ms = e.ts_ms;
    item.seq = e.seq;
    item.expires_ms = now.wall_ms + static_cast<uint64_t>(base::to_ms_int(cfg_.expiry));
    // Outbox first: once it is there the message cannot be lost. History second. The message
    // counts as sent only once both are written: if the history record fails (a full disk),
    // the message is taken back out of the outbox and the caller gets the error, so it never
    // reaches the peer while missing from our own history. (Not covered: the "failed" record
    // failing too, and then a restart, which finds the message in the outbox and sends it; or
    // a crash between the two writes. An outbox item without a history entry cannot be told
    // from one whose history record was later damaged, which must still go out.)
    if (auto st = outbox_.add(item); !st.ok()) {
        ++counts_.write_errors;
        return st;
    }
    if (auto st = history_.add(to, e); !st.ok()) {
        ++counts_.write_errors;
        if (!outbox_.finish(item.id, "failed").ok()) outbox_.forget(item.id);
        return st;
    }
    ++counts_.sent;
    waiting_since_[e.id] = now.mono;
    deliver(to, now);
    return e;
}

void Messenger::want(const PublicKey& peer, PeerState& ps) {
    if (ps.wanted) return;  // the connector keeps trying, at its own pace
    ps.wanted = true;
    ps.connecting = true;
    fx_.want(peer);
}

void Messenger::deliver(const PublicKey& peer, Clock now) {
    PeerState& ps = peers_[peer];
    // Only what was written after the last message this session carried: a burst of n
    // messages then costs O(n), not O(n^2).
    auto items = outbox_.pending_for(peer, ps.resume);
    auto receipts = outbox_.receipts_for(peer);
    if (ps.hello_owed && ps.up) {
        Payload h;
        h.type = PayloadType::hello;
        h.takes_text = true;
        h.reply = ps.hello_ask;
        auto r = fx_.send(peer, encode(h));
        if (r == Effects::Sent::busy) return;
        ps.hello_owed = false;  // (with no session, the next one sends its own)
    }
    if (items.empty() && ps.acks.empty() && receipts.empty()) return;
    // Acknowledgements first: they are small and free the other side's outbox.
    while (!ps.acks.empty()) {
        Payload a;
        a.type = PayloadType::ack;
        a.id = ps.acks.front();
        auto r = fx_.send(peer, encode(a));
        if (r == Effects::Sent::no_session) return want(peer, ps);
        if (r == Effects::Sent::busy) return;
        ps.acks.erase(ps.acks.begin());
    }
    // Receipts owed for mailbox messages, as plain acks now that a session is up. (Were one
    // lost, the sender resends the message over this session, and we acknowledge it again.)
    for (auto* rc : receipts) {
        if (putting_.count(rc->id)) continue;  // on its way to the mailbox: that settles it
        for (auto& id : rc->acks) {
            Payload a;
            a.type = PayloadType::ack;
            a.id = id;
            auto r = fx_.send(peer, encode(a));
            if (r == Effects::Sent::no_session) return want(peer, ps);
            if (r == Effects::Sent::busy) return;
        }
        MessageId rid = rc->id;
        waiting_since_.erase(rid);
        if (auto st = outbox_.finish_receipt(rid, "sent"); !st.ok()) {
            ++counts_.write_errors;
            problem("outbox: " + st.detail());
        }
        ++counts_.receipts_sent;
    }
    for (auto* i : items) {
        if (ps.sent.count(i->id)) {
            ps.resume = i->order + 1;
            continue;
        }
        Payload m;
        if (ps.takes_text && !i->text.empty()) {
            m.type = PayloadType::text;
            m.id = i->id;
            m.ts_ms = i->ts_ms;
            m.seq = i->seq;
            m.text = i->text;
        } else {
            m.type = PayloadType::msg;
            m.envelope = sealed(*i);
            if (m.envelope.empty()) continue;  // reported by sealed(); it stays pending, and expires
        }
        auto r = fx_.send(peer, encode(m));
        if (r == Effects::Sent::no_session) return want(peer, ps);
        if (r == Effects::Sent::busy) return;  // on_writable() continues, in order
        if (m.type == PayloadType::text) ++counts_.sent_as_text;
        ps.sent[i->id] = now.mono;
        ps.resume = i->order + 1;
    }
}

void Messenger::on_connecting(const PublicKey& peer, Clock) { peers_[peer].connecting = true; }

// A session is up (or moved to a new path): everything unacknowledged goes again, in order; the
// receiver recognises what it already has.
void Messenger::on_connected(const PublicKey& peer, Clock now) {
    PeerState& ps = peers_[peer];
    ps.connecting = false;
    ps.sent.clear();
    ps.resume = 0;
    ps.up = true;
    // Whether the peer takes "text" is asked anew on every session: it may have restarted as
    // another version. Until its hello comes, messages go sealed.
    ps.takes_text = false;
    ps.hello_owed = true;
    ps.hello_ask = true;
    deliver(peer, now);
}

void Messenger::on_unreachable(const PublicKey& peer, const std::string& why, Clock now) {
    PeerState& ps = peers_[peer];
    ps.connecting = false;
    // The other side resends what we could not acknowledge; these acks are not needed.
    ps.acks.clear();
    auto items = outbox_.pending_for(peer);
    if (!items.empty())
        KC_LOG(log_, info, "chat", "%s unreachable (%s); %zu message(s) waiting", default_name(peer).c_str(),
               why.c_str(), items.size());
    for (auto* i : items)
        if (!i->stored) store_in_mailbox(*i, now);
    for (auto* rc : outbox_.receipts_for(peer)) store_receipt(*rc);
}

// A receipt the sender cannot be reached for goes into its mailbox, sealed to it.
void Messenger::store_receipt(const ReceiptItem& rc) {
    if (!putting_.insert(rc.id).second) return;
    fx_.mailbox_put(rc.to, slot_of(rc.id), hex(rc.envelope), cfg_.mailbox_ttl);
}

// Messages taken from our mailbox: their sender is owed a receipt, kept in the outbox until a
// session carries it or the sender's mailbox holds it.
void Messenger::owe_receipt(const PublicKey& to, std::vector<MessageId> ids, Clock now) {
    while (!ids.empty()) {
        size_t n = std::min(ids.size(), kMaxReceiptIds);
        ReceiptItem rc;
        rng_.fill(std::as_writable_bytes(std::span{rc.id}));
        rc.to = to;
        rc.acks.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
        ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
        rc.expires_ms = now.wall_ms + static_cast<uint64_t>(base::to_ms_int(cfg_.expiry));
        LetterBody body;
        body.receipt = rc.acks;
        auto env = crypto::seal_envelope(me_, to, rc.id, now.wall_ms, bytes(encode(body)), rng_);
        if (!env) return problem("receipt: " + env.status().detail());
        rc.envelope = std::move(*env);
        if (auto st = outbox_.add_receipt(rc); !st.ok()) {
            ++counts_.write_errors;
            return problem("outbox: " + st.detail() + " (the sender will resend; we acknowledge then)");
        }
    }
    deliver(to, now);
}

// The recipient's word that it has our messages, by whatever path came first: the session's
// ack, or a receipt from our mailbox. The first one counts; any later one changes nothing.
void Messenger::acknowledged(const PublicKey& peer, const MessageId& id) {
    const OutboxItem* item = outbox_.find(id);
    if (!item || item->to != peer) {
        ++counts_.stray_acks;  // a late duplicate, or an ack for someone else's message
        return;
    }
    // History first: a crash between the two writes then leaves the message in the outbox,
    // which only means one more resend and a second acknowledgement. The other order could
    // leave it "sending" in the history forever.
    set_status(peer, id, "delivered");
    if (auto st = outbox_.finish(id, "delivered"); !st.ok()) {
        ++counts_.write_errors;
        return problem("outbox: " + st.detail());
    }
    ++counts_.delivered;
    peers_[peer].sent.erase(id);
    stored_at_.erase(id);
    waiting_since_.erase(id);
}

void Messenger::on_disconnected(const PublicKey& peer, Clock) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    it->second.up = false;
    it->second.sent.clear();
    it->second.resume = 0;
    it->second.takes_text = false;
    it->second.hello_owed = false;
    // Still wanted if anything is pending: the connector redials.
}

void Messenger::on_writable(const PublicKey& peer, Clock now) { deliver(peer, now); }

const std::vector<uint8_t>& Messenger::sealed(const OutboxItem& item) {
    if (!item.envelope.empty()) return item.envelope;
    auto env = crypto::seal_envelope(me_, item.to, item.id, item.ts_ms, bytes(encode(LetterBody{item.text, item.seq, {}})),
                                     rng_);
    if (!env) {
        problem("cannot seal a message to " + default_name(item.to) + ": " + env.status().detail());
        return item.envelope;
    }
    ++counts_.sealed;
    outbox_.keep_envelope(item.id, std::move(*env));
    return item.envelope;
}

void Messenger::store_in_mailbox(const OutboxItem& item, Clock now) {
    const auto& env = sealed(item);
    if (env.empty() || !putting_.insert(item.id).second) return;
    stored_at_[item.id] = now.mono;
    fx_.mailbox_put(item.to, slot_of(item.id), hex(env), cfg_.mailbox_ttl);
}

void Messenger::on_mailbox_put(const std::string& slot, size_t stored, Clock) {
    MessageId id{};
    if (!base::from_hex_exact(slot, id)) return;
    putting_.erase(id);
    if (outbox_.find_receipt(id)) {
        if (stored == 0) return;  // put again at a later tick
        waiting_since_.erase(id);
        if (auto st = outbox_.finish_receipt(id, "stored"); !st.ok()) {
            ++counts_.write_errors;
            return problem("outbox: " + st.detail());
        }
        ++counts_.receipts_stored;
        return;
    }
    const OutboxItem* item = outbox_.find(id);
    if (!item) return;  // delivered meanwhile
    if (stored == 0) {
        stored_at_.erase(id);  // try again after the next failed attempt to connect
        return;
    }
    if (item->stored) return;
    PublicKey to = item->to;
    const Entry* e = history_.find(to, id);
    if (e && e->status == "sending") set_status(to, id, "stored");  // history first, as for acks
    if (auto st = outbox_.mark_stored(id); !st.ok()) {
        ++counts_.write_errors;
        return problem("outbox: " + st.detail());
    }
    ++counts_.stored;
}

void Messenger::set_status(const PublicKey& peer, const MessageId& id, const std::string& status) {
    if (auto st = history_.set_status(peer, id, status); !st.ok()) {
        if (st.code() != base::Errc::not_found) problem("history: " + st.detail());
        return;
    }
    Notice n;
    n.kind = Notice::Kind::status;
    n.peer = peer;
    if (const Entry* e = history_.find(peer, id)) n.entry = *e;
    fx_.notify(n);
}

void Messenger::on_payload(const PublicKey& peer, const Payload& p, Clock now) {
    if (p.type == PayloadType::ack) return acknowledged(peer, p.id);
    if (p.type == PayloadType::hello) {
        PeerState& ps = peers_[peer];
        ps.takes_text = p.takes_text;
        if (p.reply) {
            ps.hello_owed = true;
            ps.hello_ask = false;
        }
        return deliver(peer, now);
    }
    if (p.type == PayloadType::text) {
        // The session authenticated the peer and encrypted the payload end to end, so the
        // letter is the peer's own; only the body is checked.
        if (p.text.empty() || p.text.size() > kMaxTextBytes) {
            ++counts_.malformed;
            return;
        }
        crypto::Letter letter;
        letter.sender = peer;
        letter.recipient = me_.public_key;
        letter.id = p.id;
        letter.timestamp_ms = p.ts_ms;
        accept(letter, LetterBody{p.text, p.seq, {}}, now);
        return;
    }
    if (p.type != PayloadType::msg) return;
    auto letter = opener_.open(p.envelope);
    if (!letter) {
        ++(letter.status().detail().find("forged") != std::string::npos ? counts_.forged : counts_.undecryptable);
        KC_LOG(log_, info, "chat", "envelope from %s refused: %s", default_name(peer).c_str(),
               letter.status().detail().c_str());
        return;
    }
    if (letter->sender != peer) {
        // A session partner may only hand over its own messages (relays are another path).
        ++counts_.wrong_sender;
        return;
    }
    auto body = decoder_.decode_body(letter->payload);
    if (!body || body->text.size() > kMaxTextBytes || !body->receipt.empty()) {
        ++counts_.malformed;  // (receipts travel only through mailboxes)
        return;
    }
    accept(*letter, *body, now);
}

bool Messenger::accept(const crypto::Letter& letter, const LetterBody& body, Clock now) {
    const PublicKey& from = letter.sender;
    const Contact* c = contacts_.find(from);
    if (c && c->state == ContactState::blocked) {
        ++counts_.blocked;
        return false;
    }
    PeerState& ps = peers_[from];
    if (history_.has(from, letter.id)) {
        ++counts_.duplicates;  // a resend: our ack was lost or late
        ps.acks.push_back(letter.id);
        deliver(from, now);
        return true;
    }
    Entry e;
    e.id = letter.id;
    e.from = from;
    e.to = me_.public_key;
    e.text = body.text;
    e.ts_ms = letter.timestamp_ms;
    e.seq = body.seq;
    e.incoming = true;
    e.status = "received";
    e.read = false;
    if (auto st = history_.add(from, e); !st.ok()) {
        ++counts_.write_errors;
        problem("history: " + st.detail() + " (message not acknowledged; the sender will resend it)");
        return false;
    }
    ++counts_.received;
    Notice n;
    n.peer = from;
    n.entry = e;
    if (!c) {
        if (auto st = contacts_.note_request(from, now.wall_ms); !st.ok()) problem("contacts: " + st.detail());
        ++counts_.requests;
        n.kind = Notice::Kind::request;
    } else if (c->state == ContactState::request) {
        n.kind = Notice::Kind::request;
    } else {
        n.kind = Notice::Kind::message;
    }
    fx_.notify(n);
    ps.acks.push_back(letter.id);
    deliver(from, now);
    return true;
}

void Messenger::fetch_soon(Clock now) { next_fetch_ = now.mono; }

void Messenger::on_mailbox(const std::vector<MailboxLetter>& items, Clock now) {
    fetching_ = false;
    ++counts_.mailbox_fetches;
    struct Opened {
        crypto::Letter letter;
        LetterBody body;
    };
    std::vector<Opened> letters;
    std::vector<std::string> slots;
    for (auto& it : items) {
        slots.push_back(it.slot);
        auto env = base::from_hex(it.data);
        if (!env) {
            ++counts_.malformed;
            continue;
        }
        auto l = opener_.open(*env);
        if (!l) {
            ++(l.status().detail().find("forged") != std::string::npos ? counts_.forged : counts_.undecryptable);
            continue;
        }
        auto body = decoder_.decode_body(l->payload);
        if (!body || body->text.size() > kMaxTextBytes) {
            ++counts_.malformed;
            continue;
        }
        letters.push_back({std::move(*l), std::move(*body)});
    }
    // Each sender's messages in the order they were written, whatever order the nodes kept.
    std::stable_sort(letters.begin(), letters.end(), [](const Opened& a, const Opened& b) {
        if (a.letter.sender != b.letter.sender) return a.letter.sender < b.letter.sender;
        return a.body.seq < b.body.seq;
    });
    size_t fresh = 0;
    std::vector<std::string> done_slots;
    std::map<PublicKey, std::vector<MessageId>> owed;
    for (auto& o : letters) {
        if (!o.body.receipt.empty()) {
            ++counts_.receipts_received;
            for (auto& id : o.body.receipt) acknowledged(o.letter.sender, id);
            continue;
        }
        bool dup = history_.has(o.letter.sender, o.letter.id);
        if (accept(o.letter, o.body, now)) {
            if (!dup) ++fresh;
            owed[o.letter.sender].push_back(o.letter.id);
        }
    }
    for (auto& [sender, ids] : owed) owe_receipt(sender, ids, now);
    counts_.mailbox_items += fresh;
    // Remove what we hold now (and what nobody can open: it is ours to clear). A message we
    // failed to write stays, and is fetched again.
    for (auto& s : slots) {
        MessageId id{};
        bool keep = false;
        if (base::from_hex_exact(s, id))
            for (auto& o : letters)
                if (o.letter.id == id && o.body.receipt.empty() && !history_.has(o.letter.sender, id) &&
                    !(contacts_.find(o.letter.sender) && contacts_.find(o.letter.sender)->state == ContactState::blocked))
                    keep = true;
        if (!keep) done_slots.push_back(s);
    }
    if (!done_slots.empty()) fx_.mailbox_remove(done_slots);
    // A reply carries at most ~48 KB of items: if this one brought new ones, look for more.
    next_fetch_ = now.mono + (fresh > 0 ? base::Duration{1s} : cfg_.fetch_every);
    if (early_fetches_ < 4 && fresh == 0) {
        static constexpr base::Duration kEarly[] = {2s, 5s, 15s, 30s};
        next_fetch_ = now.mono + kEarly[early_fetches_++];
    }
}

base::TimePoint Messenger::tick(Clock now) {
    base::TimePoint next = now.mono + 10s;
    // Expiry, on the wall clock (it spans restarts).
    for (auto* i : outbox_.pending()) {
        if (now.wall_ms < i->expires_ms) continue;
        PublicKey to = i->to;
        MessageId id = i->id;
        if (auto st = outbox_.finish(id, "expired"); !st.ok()) {
            ++counts_.write_errors;
            continue;
        }
        ++counts_.expired;
        waiting_since_.erase(id);
        set_status(to, id, "expired");
    }
    for (auto* rc : outbox_.receipts())
        if (now.wall_ms >= rc->expires_ms) {
            MessageId rid = rc->id;
            if (!outbox_.finish_receipt(rid, "expired").ok()) ++counts_.write_errors;
        }
    std::set<PublicKey> waiting;
    for (auto* rc : outbox_.receipts()) {
        waiting.insert(rc->to);
        // Not carried by a session within store_after: into the sender's mailbox meanwhile.
        auto since = waiting_since_.emplace(rc->id, now.mono).first->second;
        if (now.mono - since >= cfg_.store_after && !(peers_.count(rc->to) && peers_[rc->to].up))
            store_receipt(*rc);
        else if (now.mono - since < cfg_.store_after)
            next = std::min(next, since + cfg_.store_after);
    }
    for (auto* i : outbox_.pending()) {
        waiting.insert(i->to);
        if (i->stored) {
            auto s = stored_at_.find(i->id);
            if (s == stored_at_.end() || now.mono - s->second >= cfg_.restore_every) store_in_mailbox(*i, now);
        }
    }
    for (auto& [peer, ps] : peers_) {
        for (auto it = ps.sent.begin(); it != ps.sent.end();) {
            if (now.mono - it->second >= cfg_.ack_timeout) {
                ++counts_.resent;
                it = ps.sent.erase(it);  // sent again below
                ps.resume = 0;
            } else {
                next = std::min(next, it->second + cfg_.ack_timeout);
                ++it;
            }
        }
        if (!ps.acks.empty()) waiting.insert(peer);
    }
    for (auto& peer : waiting) {
        PeerState& ps = peers_[peer];
        // Looking for an offline peer waits out the lookup's timeouts, and reconnecting waits for
        // the backoff: a message not on its way after store_after is put in the mailbox
        // meanwhile. (If a session comes up after all, the receiver gets it twice, shows it once.)
        if (!ps.up) {
            for (auto* i : outbox_.pending_for(peer)) {
                if (i->stored || putting_.count(i->id)) continue;
                auto since = waiting_since_.emplace(i->id, now.mono).first->second;
                if (now.mono - since >= cfg_.store_after)
                    store_in_mailbox(*i, now);
                else
                    next = std::min(next, since + cfg_.store_after);
            }
        }
        deliver(peer, now);
    }
    // Nothing left to say to a peer: the connector may stop trying.
    for (auto& [peer, ps] : peers_) {
        if (!ps.wanted || waiting.count(peer)) continue;
        ps.wanted = false;
        ps.connecting = false;
        fx_.release(peer);
    }
    if (!fetching_ && now.mono >= next_fetch_) {
        fetching_ = true;
        fx_.mailbox_fetch();
    }
    if (!fetching_) next = std::min(next, next_fetch_);
    return std::max(next, now.mono);
}

}  // namespace chat
