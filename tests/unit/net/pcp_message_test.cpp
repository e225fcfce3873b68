// PCP MAP messages (RFC 6887 §7, §11): the bytes a router reads, and what we accept back.
#include <doctest/doctest.h>

#include "net/pcp_message.hpp"

namespace {

using net::pcp::MapRequest;

MapRequest sample() {
    MapRequest r;
    r.client = base::Endpoint::v4(192, 168, 1, 20, 0);
    r.protocol = net::pcp::kProtoUdp;
    r.internal_port = 44544;
    r.suggested_port = 44544;
    r.lifetime_s = 3600;
    for (size_t i = 0; i < r.nonce.size(); ++i) r.nonce[i] = static_cast<uint8_t>(0xa0 + i);
    return r;
}

// A router's answer to `req`, laid out by hand from RFC 6887 Figures 3 and 10.
std::vector<uint8_t> answer(const MapRequest& req, uint8_t result, uint16_t port, std::array<uint8_t, 4> ip) {
    std::vector<uint8_t> b(60, 0);
    b[0] = 2;
    b[1] = 0x81;
    b[3] = result;
    b[4] = 0, b[5] = 0, b[6] = 0x0e, b[7] = 0x10;  // lifetime 3600
    b[11] = 77;                                   // epoch
    std::copy(req.nonce.begin(), req.nonce.end(), b.begin() + 24);
    b[36] = req.protocol;
    b[40] = static_cast<uint8_t>(req.internal_port >> 8), b[41] = static_cast<uint8_t>(req.internal_port);
    b[42] = static_cast<uint8_t>(port >> 8), b[43] = static_cast<uint8_t>(port);
    b[54] = b[55] = 0xff;
    std::copy(ip.begin(), ip.end(), b.begin() + 56);
    return b;
}

}  // namespace

TEST_CASE("pcp: a MAP request has the RFC 6887 layout") {
    auto b = net::pcp::encode_map(sample());
    REQUIRE(b.size() == 60);
    CHECK(b[0] == 2);                        // version
    CHECK(b[1] == 1);                        // R=0, opcode MAP
    CHECK(b[2] == 0);
    CHECK(b[3] == 0);
    CHECK((b[4] == 0 && b[5] == 0 && b[6] == 0x0e && b[7] == 0x10));  // 3600 s
    // Client address as ::ffff:192.168.1.20
    for (int i = 8; i < 18; ++i) CHECK(b[i] == 0);
    CHECK((b[18] == 0xff && b[19] == 0xff && b[20] == 192 && b[21] == 168 && b[22] == 1 && b[23] == 20));
    CHECK(b[24] == 0xa0);
    CHECK(b[35] == 0xab);
    CHECK(b[36] == 17);                      // UDP
    CHECK((b[37] == 0 && b[38] == 0 && b[39] == 0));
    CHECK((b[40] == 0xae && b[41] == 0x00));  // 44544
    CHECK((b[42] == 0xae && b[43] == 0x00));
    // Suggested external address: ::ffff:0.0.0.0 ("any" IPv4)
    for (int i = 44; i < 54; ++i) CHECK(b[i] == 0);
    CHECK((b[54] == 0xff && b[55] == 0xff && b[56] == 0 && b[59] == 0));
}

TEST_CASE("pcp: a deletion is a MAP with lifetime 0 and the same nonce") {
    auto del = sample();
    del.lifetime_s = 0;
    del.suggested_port = 0;
    auto b = net::pcp::encode_map(del);
    CHECK((b[4] | b[5] | b[6] | b[7]) == 0);
    CHECK(b[24] == 0xa0);
}

TEST_CASE("pcp: a success answer gives the external endpoint, lifetime and epoch") {
    auto req = sample();
    auto r = net::pcp::parse_map_response(answer(req, 0, 50000, {203, 0, 113, 9}), req);
    REQUIRE(r);
    CHECK(r->result == 0);
    CHECK_FALSE(r->natpmp_only);
    CHECK(r->lifetime_s == 3600);
    CHECK(r->epoch_s == 77);
    CHECK(r->external == base::Endpoint::v4(203, 0, 113, 9, 50000));
}

TEST_CASE("pcp: answers that are not for our request are refused") {
    auto req = sample();
    auto good = answer(req, 0, 50000, {203, 0, 113, 9});
    SUBCASE("another nonce (someone else's mapping, or a forgery)") {
        auto b = good;
        b[30] ^= 1;
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("another protocol") {
        auto b = good;
        b[36] = 6;
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("another internal port") {
        auto b = good;
        b[41] = 1;
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("a request, not an answer") {
        auto b = good;
        b[1] = 1;
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("another opcode (ANNOUNCE)") {
        auto b = good;
        b[1] = 0x80;
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("another version") {
        auto b = good;
        b[0] = 1;
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("success without an external port") {
        auto b = answer(req, 0, 0, {203, 0, 113, 9});
        CHECK_FALSE(net::pcp::parse_map_response(b, req));
    }
    SUBCASE("every truncation of a success is refused, none read past the end") {
        for (size_t n = 0; n < good.size(); ++n) {
            std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
            CHECK_FALSE(net::pcp::parse_map_response(cut, req));
        }
    }
}

TEST_CASE("pcp: error results and a NAT-PMP-only router") {
    auto req = sample();
    SUBCASE("an error result is an answer with the code") {
        auto r = net::pcp::parse_map_response(answer(req, 8, 0, {0, 0, 0, 0}), req);
        REQUIRE(r);
        CHECK(r->result == 8);
        CHECK(std::string{net::pcp::result_name(r->result)} == "no resources");
    }
    SUBCASE("an error on the header alone, without the MAP payload") {
        std::vector<uint8_t> b(24, 0);
        b[0] = 2, b[1] = 0x81, b[3] = 3;
        auto r = net::pcp::parse_map_response(b, req);
        REQUIRE(r);
        CHECK(r->result == 3);
    }
    SUBCASE("a version-0 answer: the router speaks NAT-PMP, not PCP") {
        // RFC 6886 §3.5: version 0, opcode 128 + the request's, result 1 (unsupported version).
        std::vector<uint8_t> b = {0, 0x81, 0, 1, 0, 0, 0, 0};
        auto r = net::pcp::parse_map_response(b, req);
        REQUIRE(r);
        CHECK(r->natpmp_only);
        CHECK(r->result == 1);
    }
    CHECK(std::string{net::pcp::result_name(200)} == "unknown result");
}
