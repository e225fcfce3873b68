#include "chat/outbox.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/hex.hpp"
#include "chat/json_quote.hpp"

namespace chat {

namespace {
using json = nlohmann::json;
std::string hex(std::span<const uint8_t> b) { return base::to_hex(b); }

std::string add_record(const OutboxItem& i) {
    std::string r = R"({"op":"add","id":")" + hex(i.id) + R"(","to":")" + hex(i.to) + "\",";
    if (!i.text.empty())
        r += R"("text":)" + json_quote(i.text) + ",";
    else
        r += R"("env":")" + hex(i.envelope) + "\",";  // an old record's only copy
    return r + R"("ts":)" + std::to_string(i.ts_ms) + R"(,"seq":)" + std::to_string(i.seq) + R"(,"expires":)" +
           std::to_string(i.expires_ms) + "}";
}
std::string done_record(const crypto::MessageId& id, const std::string& status) {
    return R"({"op":"done","id":")" + hex(id) + R"(","status":)" + json_quote(status) + "}";
}
std::string stored_record(const crypto::MessageId& id) { return json{{"op", "stored"}, {"id", hex(id)}}.dump(); }
std::string receipt_record(const ReceiptItem& r) {
    json acks = json::array();
    for (auto& a : r.acks) acks.push_back(hex(a));
    return json{{"op", "receipt"}, {"id", hex(r.id)}, {"to", hex(r.to)}, {"acks", acks}, {"env", hex(r.envelope)},
                {"expires", r.expires_ms}}
        .dump();
}
}  // namespace

base::Result<Outbox> Outbox::open(const std::string& path, std::vector<std::string>& problems) {
    Journal::Recovered rec;
    auto j = Journal::open(path, rec);
    if (!j) return j.status();
    for (auto& p : rec.problems) problems.push_back(path + ": " + p);
    Outbox box{std::move(*j)};
    size_t n = 0, finished = 0;
    bool damaged = !rec.problems.empty();
    for (auto& r : rec.records) {
        ++n;
        try {
            auto o = json::parse(r);
            crypto::MessageId id{};
            if (!base::from_hex_exact(o.at("id").get<std::string>(), id)) throw std::runtime_error("bad id");
            std::string op = o.at("op").get<std::string>();
            if (op == "add") {
                OutboxItem i;
                i.id = id;
                if (!base::from_hex_exact(o.at("to").get<std::string>(), i.to)) throw std::runtime_error("bad hex");
                if (o.contains("text")) i.text = o.at("text").get<std::string>();
                if (o.contains("env") || i.text.empty()) {
                    auto env = base::from_hex(o.at("env").get<std::string>());
                    if (!env) throw std::runtime_error("bad hex");
                    i.envelope = std::move(*env);
                }
                i.ts_ms = o.at("ts").get<uint64_t>();
                i.seq = o.at("seq").get<uint64_t>();
                i.expires_ms = o.at("expires").get<uint64_t>();
                i.order = box.next_order_;
                box.order_of_[id] = box.next_order_;
                box.items_[box.next_order_++] = std::move(i);
            } else if (op == "stored") {
                if (auto it = box.order_of_.find(id); it != box.order_of_.end()) box.items_[it->second].stored = true;
            } else if (op == "receipt") {
                ReceiptItem r;
                r.id = id;
                auto env = base::from_hex(o.at("env").get<std::string>());
                if (!env || !base::from_hex_exact(o.at("to").get<std::string>(), r.to)) throw std::runtime_error("bad hex");
                r.envelope = std::move(*env);
                for (auto& a : o.at("acks")) {
                    crypto::MessageId m{};
                    if (!base::from_hex_exact(a.get<std::string>(), m)) throw std::runtime_error("bad ack id");
                    r.acks.push_back(m);
                }
                r.expires_ms = o.at("expires").get<uint64_t>();
                box.receipt_order_[id] = box.next_order_;
                box.receipts_[box.next_order_++] = std::move(r);
            } else if (op == "done") {
                if (auto it = box.order_of_.find(id); it != box.order_of_.end()) {
                    box.items_.erase(it->second);
                    box.order_of_.erase(it);
                }
                if (auto it = box.receipt_order_.find(id); it != box.receipt_order_.end()) {
                    box.receipts_.erase(it->second);
                    box.receipt_order_.erase(it);
                }
                ++finished;
            }
        } catch (const std::exception& e) {
            damaged = true;
            problems.push_back(path + ": record " + std::to_string(n) + " unreadable (" + e.what() + "), skipped");
        }
    }
    if (finished > 0 && !damaged) {
        std::vector<std::string> keep;
        for (auto* i : box.pending()) {
            keep.push_back(add_record(*i));
            if (i->stored) keep.push_back(stored_record(i->id));
        }
        for (auto* r : box.receipts()) keep.push_back(receipt_record(*r));
        if (auto st = Journal::replace(path, keep); st.ok()) {
            Journal::Recovered again;
            auto j2 = Journal::open(path, again);
            if (!j2) return j2.status();
            box.journal_ = std::make_unique<Journal>(std::move(*j2));
        } else {
            problems.push_back(path + ": compaction failed (" + st.detail() + "); kept as is");
        }
    }
    return box;
}

base::Status Outbox::add(const OutboxItem& item) {
    if (auto st = journal_->append(add_record(item)); !st.ok()) return st;
    order_of_[item.id] = next_order_;
    auto& in = items_[next_order_] = item;
    in.order = next_order_++;
    return {};
}

void Outbox::keep_envelope(const crypto::MessageId& id, std::vector<uint8_t> envelope) {
    if (auto it = order_of_.find(id); it != order_of_.end()) items_[it->second].envelope = std::move(envelope);
}

base::Status Outbox::mark_stored(const crypto::MessageId& id) {
    auto it = order_of_.find(id);
    if (it == order_of_.end()) return base::not_found("not in the outbox");
    if (auto st = journal_->append(stored_record(id)); !st.ok()) return st;
    items_[it->second].stored = true;
    return {};
}

base::Status Outbox::finish(const crypto::MessageId& id, const std::string& status) {
    auto it = order_of_.find(id);
    if (it == order_of_.end()) return base::not_found("not in the outbox");
    if (auto st = journal_->append(done_record(id, status)); !st.ok())
        return st;
    items_.erase(it->second);
    order_of_.erase(it);
    return {};
}

void Outbox::forget(const crypto::MessageId& id) {
    auto it = order_of_.find(id);
    if (it == order_of_.end()) return;
    items_.erase(it->second);
    order_of_.erase(it);
}

base::Status Outbox::add_receipt(const ReceiptItem& r) {
    if (auto st = journal_->append(receipt_record(r)); !st.ok()) return st;
    receipt_order_[r.id] = next_order_;
    receipts_[next_order_++] = r;
    return {};
}

base::Status Outbox::finish_receipt(const crypto::MessageId& id, const std::string& status) {
    auto it = receipt_order_.find(id);
    if (it == receipt_order_.end()) return base::not_found("no such receipt");
    if (auto st = journal_->append(done_record(id, status)); !st.ok())
        return st;
    receipts_.erase(it->second);
    receipt_order_.erase(it);
    return {};
}

const ReceiptItem* Outbox::find_receipt(const crypto::MessageId& id) const {
    auto it = receipt_order_.find(id);
    return it == receipt_order_.end() ? nullptr : &receipts_.at(it->second);
}

std::vector<const ReceiptItem*> Outbox::receipts() const {
    std::vector<const ReceiptItem*> out;
    for (auto& [order, r] : receipts_) out.push_back(&r);
    return out;
}

std::vector<const ReceiptItem*> Outbox::receipts_for(const crypto::PublicKey& to) const {
    std::vector<const ReceiptItem*> out;
    for (auto& [order, r] : receipts_)
        if (r.to == to) out.push_back(&r);
    return out;
}

const OutboxItem* Outbox::find(const crypto::MessageId& id) const {
    auto it = order_of_.find(id);
    return it == order_of_.end() ? nullptr : &items_.at(it->second);
}

std::vector<const OutboxItem*> Outbox::pending() const {
    std::vector<const OutboxItem*> out;
    for (auto& [order, item] : items_) out.push_back(&item);
    return out;
}

std::vector<const OutboxItem*> Outbox::pending_for(const crypto::PublicKey& to, uint64_t from) const {
    std::vector<const OutboxItem*> out;
    for (auto it = items_.lower_bound(from); it != items_.end(); ++it)
        if (it->second.to == to) out.push_back(&it->second);
    return out;
}

}  // namespace chat
