#include "crypto/session.hpp"

#include <cstring>

namespace crypto {

namespace {
uint64_t ticks_of(base::TimePoint t) { return static_cast<uint64_t>(t.time_since_epoch().count()); }
}  // namespace

Session::Session(const SessionKeys& me, Role role, Mode mode, base::Rng& rng, const SessionConfig& cfg,
                 base::TimePoint now)
    : me_{me}, role_{role}, mode_{mode}, rng_{rng}, cfg_{cfg}, started_{now}, last_sent_{now}, last_heard_{now},
      last_data_{now} {}

base::Result<std::unique_ptr<Session>> Session::connect(const SessionKeys& me, const PublicKey& peer, Mode mode,
                                                        base::Rng& rng, const SessionConfig& cfg,
                                                        base::TimePoint now, uint64_t wall_ms,
                                                        std::span<const uint8_t> first, std::optional<Yield> yield) {
    auto hs = InitiatorHandshake::create(me, peer);
    if (!hs) return hs.status();
    if (first.size() > kMaxFrameBody) return base::Status{base::Errc::too_large, "first payload too large"};
    std::unique_ptr<Session> s{new Session(me, Role::initiator, mode, rng, cfg, now)};
    s->peer_ = peer;
    s->peer_known_ = true;
    s->initiator_.emplace(std::move(*hs));
    s->first_payload_.assign(first.begin(), first.end());
    s->wall_ms_ = wall_ms;
    s->yield_ = std::move(yield);
    if (auto st = s->send_init(now); !st.ok()) return st;
    return s;
}

std::unique_ptr<Session> Session::accept(const SessionKeys& me, const ResponderContext& ctx, Mode mode,
                                         base::Rng& rng, const SessionConfig& cfg, base::TimePoint now,
                                         std::vector<uint8_t> source) {
    std::unique_ptr<Session> s{new Session(me, Role::responder, mode, rng, cfg, now)};
    s->ctx_ = ctx;
    s->source_ = std::move(source);
    return s;
}

base::Status Session::send_init(base::TimePoint now) {
    // A resend carries a later timestamp, so the responder's replay check still passes.
    auto msg = initiator_->init_message(first_payload_, wall_ms_ + static_cast<uint64_t>(base::to_ms(now - started_)),
                                        rng_, now);
    if (!msg) return msg.status();
    last_init_ = now;
    emit(*msg);
    return {};
}

void Session::emit(std::span<const uint8_t> msg) {
    bytes_out_ += msg.size();
    if (mode_ == Mode::stream) {
        stream_out_.push_back(static_cast<uint8_t>(msg.size() >> 8));
        stream_out_.push_back(static_cast<uint8_t>(msg.size()));
        stream_out_.insert(stream_out_.end(), msg.begin(), msg.end());
        bytes_out_ += 2;
    } else {
        datagrams_out_.emplace_back(msg.begin(), msg.end());
    }
}

void Session::seal(Inner type, std::span<const uint8_t> body, base::TimePoint now) {
    if (mode_ == Mode::stream) {
        // Seal straight into the output buffer behind a length prefix.
        size_t at = stream_out_.size();
        stream_out_.push_back(0);
        stream_out_.push_back(0);
        cipher_->seal(static_cast<uint8_t>(type), body, now, stream_out_);
        size_t len = stream_out_.size() - at - 2;
        stream_out_[at] = static_cast<uint8_t>(len >> 8);
        stream_out_[at + 1] = static_cast<uint8_t>(len);
        bytes_out_ += len + 2;
    } else {
        std::vector<uint8_t> msg;
        cipher_->seal(static_cast<uint8_t>(type), body, now, msg);
        bytes_out_ += msg.size();
        datagrams_out_.push_back(std::move(msg));
    }
    ++frames_out_;
    last_sent_ = now;
}

void Session::receive(std::span<const uint8_t> bytes, base::TimePoint now) {
    if (state_ == State::closed) return;
    bytes_in_ += bytes.size();
    if (mode_ == Mode::datagram) {
        on_message(bytes, now);
        return;
    }
    // Whole messages are handled straight from the caller's buffer; only a message split across
    // reads is copied, into in_, and just until it is complete.
    while (!bytes.empty() && state_ != State::closed) {
        if (!in_.empty()) {
            size_t take = in_.size() < 2 ? 2 - in_.size() : 0;
            if (take == 0) {
                size_t len = size_t{in_[0]} << 8 | in_[1];
                take = 2 + len - in_.size();
            }
            take = std::min(take, bytes.size());
            in_.insert(in_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
            bytes = bytes.subspan(take);
            if (in_.size() < 2) return;
            size_t len = size_t{in_[0]} << 8 | in_[1];
            if (len == 0) return fail("empty message on the stream", now);
            if (in_.size() < 2 + len) continue;  // (bytes is empty now)
            on_message(std::span{in_}.subspan(2), now);
            in_.clear();  // keeps its capacity for the next split message
            continue;
        }
        size_t at = 0;
        while (state_ != State::closed && bytes.size() - at >= 2) {
            size_t len = size_t{bytes[at]} << 8 | bytes[at + 1];
            if (len == 0) return fail("empty message on the stream", now);
            if (bytes.size() - at - 2 < len) break;
            on_message(bytes.subspan(at + 2, len), now);
            at += 2 + len;
        }
        if (state_ == State::closed) return;
        in_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end());
        return;
    }
}

void Session::on_message(std::span<const uint8_t> msg, base::TimePoint now) {
    if (msg.empty()) {
        fail("empty message", now);
        return;
    }
    auto type = static_cast<SessionMsg>(msg[0]);
    auto drop_or_fail = [&](const std::string& why) {
        // On datagrams anyone can inject a message: drop it. On a stream only the peer can.
        if (mode_ == Mode::datagram) {
            ++dropped_;
        } else {
            fail(why, now);
        }
    };
    switch (type) {
        case SessionMsg::init:
            if (role_ == Role::initiator && state_ == State::handshaking && yield_) {
                // Both ends opened this link at once. The smaller key's init wins: ours, so
                // theirs is dropped; or theirs, and we answer it as the responder instead.
                if (me_.identity.public_key < peer_) {
                    ++dropped_;
                    // Their init got through: the path is open now, and our first init, sent
                    // before their NAT knew us, was probably dropped. Send it again at once (one
                    // of ours for each of theirs, which come at most once a second: no storm).
                    if (mode_ == Mode::datagram) {
                        if (auto st = send_init(now); !st.ok()) fail(st.detail(), now);
                    }
                    return;
                }
                role_ = Role::responder;
                ctx_ = std::move(yield_->ctx);
                source_ = std::move(yield_->source);
                yield_.reset();
                initiator_.reset();
                expect_peer_ = peer_;
                peer_known_ = false;
                return on_init(msg, now);
            }
            // Datagrams: our response was lost and the initiator sent a new init (a new
            // ephemeral key). Nothing has come under the first keys yet, so answer it afresh.
            if (mode_ == Mode::datagram && role_ == Role::responder && state_ == State::established &&
                frames_in_ == 0) {
                expect_peer_ = peer_;
                return on_init(msg, now);
            }
            if (role_ != Role::responder || state_ != State::handshaking) return drop_or_fail("unexpected init");
            return on_init(msg, now);
        case SessionMsg::cookie: {
            if (role_ != Role::initiator || state_ != State::handshaking) return drop_or_fail("unexpected cookie reply");
            auto st = initiator_->on_cookie_reply(msg, now);
            if (!st.ok()) return drop_or_fail(st.detail());
            if (auto s2 = send_init(now); !s2.ok()) fail(s2.detail(), now);
            return;
        }
        case SessionMsg::response: {
            if (role_ != Role::initiator || state_ != State::handshaking) return drop_or_fail("unexpected response");
            auto done = initiator_->on_response(msg);
            if (!done) {
                // On datagrams this may answer an init we have since replaced by a resend.
                if (mode_ == Mode::datagram) {
                    ++dropped_;
                    return;
                }
                return fail("handshake response rejected: " + done.status().detail(), now, End::handshake_failed);
            }
            initiator_.reset();
            established(std::move(done->keys), now);
            if (!done->payload.empty())
                events_.push_back(Event{Event::Type::data, std::move(done->payload), {}});
            return;
        }
        case SessionMsg::transport:
            if (state_ != State::established) return drop_or_fail("transport frame before the handshake");
            return on_transport(msg, now);
    }
    drop_or_fail("unknown message type " + std::to_string(msg[0]));
}

void Session::on_init(std::span<const uint8_t> msg, base::TimePoint now) {
    bool load = ctx_.under_load && ctx_.under_load();
    auto r = accept_init(me_, msg, source_, load, *ctx_.jar, rng_, now);
    if (r.verdict == InitVerdict::cookie) {
        emit(r.reply);
        return;
    }
    if (r.verdict == InitVerdict::rejected) {
        if (mode_ == Mode::datagram) {
            ++dropped_;
            return;
        }
        return fail("handshake init rejected: " + r.why.detail(), now, End::handshake_failed);
    }
    if (ctx_.fresh_init && !ctx_.fresh_init(r.init.peer, r.init.timestamp_ms)) {
        if (mode_ == Mode::datagram) {
            ++dropped_;
            return;
        }
        return fail("replayed handshake init", now, End::handshake_failed);
    }
    if (expect_peer_ && r.init.peer != *expect_peer_) {
        if (mode_ == Mode::datagram) {
            ++dropped_;
            return;
        }
        return fail("handshake init from an unexpected peer", now, End::handshake_failed);
    }
    bool again = state_ == State::established;
    peer_ = r.init.peer;
    peer_known_ = true;
    noise::TransportKeys keys;
    auto resp = write_response(r.init, {}, rng_, keys);
    if (!resp) return fail(resp.status().detail(), now);
    emit(*resp);
    if (again) {
        // The same session under the new keys; frames sealed under the old ones are lost,
        // which the layer above (a reliable channel) repairs.
        cipher_.emplace(std::move(keys), mode_, now);
        return;
    }
    established(std::move(keys), now);
    if (!r.init.payload.empty()) events_.push_back(Event{Event::Type::data, std::move(r.init.payload), {}});
}

void Session::established(noise::TransportKeys keys, base::TimePoint now) {
    cipher_.emplace(std::move(keys), mode_, now);
    state_ = State::established;
    last_heard_ = now;
    events_.push_back(Event{Event::Type::established, {}, {}});
    for (auto& q : queued_) seal(Inner::data, q, now);
    queued_.clear();
}

void Session::on_transport(std::span<const uint8_t> msg, base::TimePoint now) {
    std::vector<uint8_t> plain;
    if (!plain_spares_.empty()) {
        plain = std::move(plain_spares_.back());
        plain_spares_.pop_back();
    }
    auto opened = cipher_->open(msg, plain);
    if (!opened) {
        if (mode_ == Mode::datagram) {
            ++dropped_;
            return;
        }
        return fail(opened.status().detail(), now);
    }
    ++frames_in_;
    last_heard_ = now;
    switch (static_cast<Inner>(opened->inner_type)) {
        case Inner::data:
            last_data_ = now;
            events_.push_back(Event{Event::Type::data, std::move(plain), {}, 1});
            return;
        case Inner::ping: {
            std::vector<uint8_t> echo{opened->body.begin(), opened->body.end()};
            seal(Inner::pong, echo, now);
            return;
        }
        case Inner::pong:
            if (opened->body.size() == 8) {
                uint64_t sent = 0;
                std::memcpy(&sent, opened->body.data(), 8);
                uint64_t t = ticks_of(now);
                if (sent <= t) rtt_ = base::Duration{static_cast<int64_t>(t - sent)};
            }
            return;
        case Inner::close: {
            std::string why{opened->body.begin(), opened->body.end()};
            state_ = State::closed;
            end_ = End::peer;
            peer_reason_ = why;
            close_reason_ = "peer closed: " + why;
            events_.push_back(Event{Event::Type::closed, {}, close_reason_});
            return;
        }
    }
    fail("unknown inner frame type " + std::to_string(opened->inner_type), now);
}

base::Status Session::send(std::span<const uint8_t> payload, base::TimePoint now) {
    if (state_ == State::closed) return base::Status{base::Errc::unavailable, "session closed: " + close_reason_};
    if (payload.size() > kMaxFrameBody) return base::Status{base::Errc::too_large, "message larger than one frame"};
    if (state_ == State::handshaking) {
        queued_.emplace_back(payload.begin(), payload.end());
        return {};
    }
    last_data_ = now;
    seal(Inner::data, payload, now);
    return {};
}

void Session::close(const std::string& reason, base::TimePoint now) {
    if (state_ == State::closed) return;
    if (state_ == State::established) {
        std::string r = reason.substr(0, 200);
        seal(Inner::close, {reinterpret_cast<const uint8_t*>(r.data()), r.size()}, now);
    }
    state_ = State::closed;
    end_ = End::local;
    close_reason_ = reason;
    events_.push_back(Event{Event::Type::closed, {}, reason});
}

void Session::fail(const std::string& reason, base::TimePoint, End end) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    end_ = end;
    close_reason_ = reason;
    events_.push_back(Event{Event::Type::closed, {}, reason});
}

base::TimePoint Session::tick(base::TimePoint now) {
    if (state_ == State::closed) return base::kNever;
    if (state_ == State::handshaking) {
        if (now - started_ >= cfg_.handshake_timeout) {
            fail("handshake timed out", now, End::handshake_timeout);
            return base::kNever;
        }
        base::TimePoint next = started_ + cfg_.handshake_timeout;
        if (role_ == Role::initiator && mode_ == Mode::datagram) {
            if (now - last_init_ >= cfg_.handshake_resend) {
                if (auto st = send_init(now); !st.ok()) fail(st.detail(), now);
            }
            next = std::min(next, last_init_ + cfg_.handshake_resend);
        }
        return next;
    }
    if (now - last_heard_ >= cfg_.dead_after) {
        fail("peer silent for " +
                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cfg_.dead_after).count()) + " s",
             now, End::peer_silent);
        return base::kNever;
    }
    if (now - last_data_ >= cfg_.idle_close) {
        close("idle", now);
        end_ = End::idle;
        return base::kNever;
    }
    if (now - last_sent_ >= cfg_.keepalive) {
        uint64_t t = ticks_of(now);
        uint8_t body[8];
        std::memcpy(body, &t, 8);
        seal(Inner::ping, body, now);
    }
    return std::min({last_heard_ + cfg_.dead_after, last_data_ + cfg_.idle_close, last_sent_ + cfg_.keepalive});
}

}  // namespace crypto
