#include "chat/history.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/hex.hpp"
#include "chat/json_quote.hpp"

namespace chat {

namespace {
using json = nlohmann::json;
std::string hex(std::span<const uint8_t> b) { return base::to_hex(b); }
const std::vector<std::string> kNoProblems;
}  // namespace

base::Result<History> History::open(const std::string& dir, std::vector<std::string>& problems) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return base::io_error("cannot create " + dir + ": " + std::strerror(errno));
    History h{dir};
    DIR* d = ::opendir(dir.c_str());
    if (!d) return base::io_error("cannot read " + dir + ": " + std::strerror(errno));
    std::vector<PublicKey> found;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        PublicKey k{};
        if (name.size() != 68 || name.substr(64) != ".log" || !base::from_hex_exact(name.substr(0, 64), k)) continue;
        found.push_back(k);
    }
    ::closedir(d);
    for (auto& k : found) {
        auto c = h.conv(k);
        if (!c) {
            problems.push_back(c.status().detail());
            continue;
        }
        for (auto& p : (*c)->problems) problems.push_back(p);
    }
    return h;
}

void History::apply(Conversation& c, const std::string& record, size_t n, const std::string& path) {
    try {
        auto o = json::parse(record);
        MessageId id{};
        if (!base::from_hex_exact(o.at("id").get<std::string>(), id)) throw std::runtime_error("bad id");
        std::string op = o.at("op").get<std::string>();
        if (op == "msg") {
            Entry e;
            e.id = id;
            if (!base::from_hex_exact(o.at("from").get<std::string>(), e.from) ||
                !base::from_hex_exact(o.at("to").get<std::string>(), e.to))
                throw std::runtime_error("bad key");
            e.text = o.at("text").get<std::string>();
            e.ts_ms = o.at("ts").get<uint64_t>();
            e.seq = o.at("seq").get<uint64_t>();
            e.incoming = o.at("dir").get<std::string>() == "in";
            e.status = o.at("status").get<std::string>();
            e.read = !e.incoming;
            if (c.index.count(id)) return;  // written twice (a crash between two steps): keep the first
            if (!e.incoming) c.max_out_seq = std::max(c.max_out_seq, e.seq);
            place(c, std::move(e));
        } else if (op == "status") {
            auto it = c.index.find(id);
            if (it != c.index.end()) c.entries[it->second].status = o.at("status").get<std::string>();
        } else if (op == "read") {
            auto it = c.index.find(id);
            if (it != c.index.end())
                for (size_t i = 0; i <= it->second; ++i) {
                    c.unread -= !c.entries[i].read;
                    c.entries[i].read = true;
                }
        }
    } catch (const std::exception& e) {
        c.problems.push_back(path + ": record " + std::to_string(n) + " unreadable (" + e.what() + "), skipped");
    }
}

base::Result<History::Conversation*> History::conv(const PublicKey& peer) {
    auto it = convs_.find(peer);
    if (it != convs_.end() && it->second.journal) return &it->second;
    std::string path = dir_ + "/" + hex(peer) + ".log";
    Journal::Recovered rec;
    auto j = Journal::open(path, rec);
    if (!j) return j.status();
    Conversation& c = convs_[peer];
    c.journal = std::make_unique<Journal>(std::move(*j));
    c.journal->defer_sync(group_);
    for (auto& p : rec.problems) c.problems.push_back(path + ": " + p);
    size_t n = 0;
    for (auto& r : rec.records) apply(c, r, ++n, path);
    return &c;
}

void History::defer_sync(GroupCommit* group) {
    group_ = group;
    for (auto& [peer, c] : convs_)
        if (c.journal) c.journal->defer_sync(group);
}

base::Status History::add(const PublicKey& peer, const Entry& e) {
    auto c = conv(peer);
    if (!c) return c.status();
    std::string r = R"({"op":"msg","id":")" + hex(e.id) + R"(","from":")" + hex(e.from) + R"(","to":")" + hex(e.to) +
                    R"(","text":)" + json_quote(e.text) + R"(,"ts":)" + std::to_string(e.ts_ms) +
                    R"(,"seq":)" + std::to_string(e.seq) + R"(,"dir":")" + (e.incoming ? "in" : "out") +
                    R"(","status":)" + json_quote(e.status) + "}";
    if (auto st = (*c)->journal->append(r); !st.ok()) return st;
    if (!e.incoming) (*c)->max_out_seq = std::max((*c)->max_out_seq, e.seq);
    place(**c, e);
    return {};
}

// An incoming message goes before the first of the peer's messages that it wrote later: one that
// arrives late (resent after our disk was full, or fetched from a mailbox after newer ones came
// over a session) still shows where the peer wrote it. The journal keeps arrival order; loading
// places them the same way, so the view survives a restart. Usually the scan stops at once.
void History::place(Conversation& c, Entry e) {
    size_t pos = c.entries.size();
    if (e.incoming && e.seq != 0) {
        for (size_t i = c.entries.size(); i-- > 0;) {
            const Entry& x = c.entries[i];
            if (!x.incoming || x.seq == 0) continue;
            if (x.seq < e.seq) break;
            pos = i;
        }
    }
    c.unread += !e.read;
    c.entries.insert(c.entries.begin() + static_cast<std::ptrdiff_t>(pos), std::move(e));
    for (size_t i = pos; i < c.entries.size(); ++i) c.index[c.entries[i].id] = i;
}

base::Status History::set_status(const PublicKey& peer, const MessageId& id, const std::string& status) {
    auto c = conv(peer);
    if (!c) return c.status();
    auto it = (*c)->index.find(id);
    if (it == (*c)->index.end()) return base::not_found("no such message");
    if (auto st = (*c)->journal->append(R"({"op":"status","id":")" + hex(id) + R"(","status":)" + json_quote(status) + "}"); !st.ok())
        return st;
    (*c)->entries[it->second].status = status;
    return {};
}

base::Result<size_t> History::mark_read(const PublicKey& peer) {
    auto it = convs_.find(peer);
    if (it == convs_.end()) return size_t{0};
    auto& c = it->second;
    size_t unread = 0;
    const Entry* last = nullptr;
    for (auto& e : c.entries) {
        if (!e.read) ++unread, last = &e;
    }
    if (!last) return size_t{0};
    if (auto st = c.journal->append(json{{"op", "read"}, {"id", hex(last->id)}}.dump()); !st.ok()) return st;
    for (auto& e : c.entries) e.read = true;
    c.unread = 0;
    return unread;
}

bool History::has(const PublicKey& peer, const MessageId& id) const { return find(peer, id) != nullptr; }

const Entry* History::find(const PublicKey& peer, const MessageId& id) const {
    auto it = convs_.find(peer);
    if (it == convs_.end()) return nullptr;
    auto i = it->second.index.find(id);
    return i == it->second.index.end() ? nullptr : &it->second.entries[i->second];
}

std::vector<Entry> History::conversation(const PublicKey& peer, size_t limit) const {
    auto it = convs_.find(peer);
    if (it == convs_.end()) return {};
    auto& v = it->second.entries;
    size_t from = limit == 0 || limit >= v.size() ? 0 : v.size() - limit;
    return {v.begin() + static_cast<std::ptrdiff_t>(from), v.end()};
}

std::vector<PublicKey> History::peers() const {
    std::vector<PublicKey> out;
    for (auto& [k, c] : convs_) out.push_back(k);
    return out;
}

uint64_t History::next_seq(const PublicKey& peer) const {
    auto it = convs_.find(peer);
    return it == convs_.end() ? 1 : it->second.max_out_seq + 1;
}

size_t History::unread(const PublicKey& peer) const {
    auto it = convs_.find(peer);
    if (it == convs_.end()) return 0;
    return it->second.unread;
}

const std::vector<std::string>& History::problems(const PublicKey& peer) const {
    auto it = convs_.find(peer);
    return it == convs_.end() ? kNoProblems : it->second.problems;
}

}  // namespace chat
