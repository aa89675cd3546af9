#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "app/ws_rx.h"

#define FIN 0x80u
#define CAP 512u

static char g_buf[CAP];

static ws_rx_t fresh(void)
{
    ws_rx_t rx;
    ws_rx_init(&rx, g_buf, sizeof g_buf);
    return rx;
}

static ws_rx_action_t str_frame(ws_rx_t *rx, uint8_t hdr, const char *s)
{
    return ws_rx_frame(rx, hdr, (const uint8_t *)s, strlen(s));
}

static void expect_fail(ws_rx_t *rx, ws_rx_action_t a, uint16_t code, ws_rx_err_t err)
{
    assert_int_equal(a, WS_RX_FAIL);
    assert_int_equal(rx->code, code);
    assert_int_equal(rx->err, err);
    assert_non_null(rx->why);
}

static void whole_text_message(void **state)
{
    (void)state;
    ws_rx_t rx = fresh();
    assert_int_equal(str_frame(&rx, FIN | WS_OP_TEXT, "{\"subscribe\":[]}"), WS_RX_TEXT);
    assert_int_equal(rx.len, 16);
    assert_memory_equal(rx.buf, "{\"subscribe\":[]}", 16);
    /* the next message starts afresh */
    assert_int_equal(str_frame(&rx, FIN | WS_OP_TEXT, "ab"), WS_RX_TEXT);
    assert_int_equal(rx.len, 2);
    assert_int_equal(ws_rx_frame(&rx, FIN | WS_OP_TEXT, NULL, 0), WS_RX_TEXT);
    assert_int_equal(rx.len, 0);
}

static void fragments_reassembled_with_control_frames_between(void **state)
{
    (void)state;
    ws_rx_t rx = fresh();
    assert_int_equal(str_frame(&rx, WS_OP_TEXT, "{\"sub"), WS_RX_NONE);
    assert_int_equal(str_frame(&rx, FIN | WS_OP_PING, "p"), WS_RX_PING);
    assert_int_equal(str_frame(&rx, WS_OP_CONT, "scribe\":"), WS_RX_NONE);
    assert_int_equal(str_frame(&rx, FIN | WS_OP_PONG, ""), WS_RX_PONG);
    assert_int_equal(str_frame(&rx, FIN | WS_OP_CONT, "[]}"), WS_RX_TEXT);
    assert_int_equal(rx.len, 16);
    assert_memory_equal(rx.buf, "{\"subscribe\":[]}", 16);
}

static void limit_is_the_sum_of_the_fragments(void **state)
{
    (void)state;
    uint8_t part[300];
    memset(part, ' ', sizeof part);
    ws_rx_t rx = fresh();
    assert_int_equal(ws_rx_frame(&rx, WS_OP_TEXT, part, 300), WS_RX_NONE);
    expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_CONT, part, 213), WS_CLOSE_TOO_BIG, WS_RX_ERR_TOO_BIG);
    /* exactly the limit is accepted */
    rx = fresh();
    assert_int_equal(ws_rx_frame(&rx, WS_OP_TEXT, part, 300), WS_RX_NONE);
    assert_int_equal(ws_rx_frame(&rx, FIN | WS_OP_CONT, part, 212), WS_RX_TEXT);
    assert_int_equal(rx.len, CAP);
    /* one frame above the limit */
    uint8_t big[CAP + 1];
    memset(big, 'x', sizeof big);
    rx = fresh();
    expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_TEXT, big, sizeof big), WS_CLOSE_TOO_BIG, WS_RX_ERR_TOO_BIG);
}

static void protocol_errors(void **state)
{
    (void)state;
    uint8_t p126[126];
    memset(p126, 'p', sizeof p126);
    ws_rx_t rx;
    for (unsigned op = 3; op <= 7; op++) {
        rx = fresh();
        expect_fail(&rx, str_frame(&rx, (uint8_t)(FIN | op), "x"), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    }
    for (unsigned op = 0xB; op <= 0xF; op++) {
        rx = fresh();
        expect_fail(&rx, str_frame(&rx, (uint8_t)(FIN | op), ""), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    }
    for (unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        rx = fresh();
        expect_fail(&rx, str_frame(&rx, (uint8_t)(FIN | rsv | WS_OP_TEXT), "{}"), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
        rx = fresh();
        expect_fail(&rx, str_frame(&rx, (uint8_t)(FIN | rsv | WS_OP_PING), ""), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    }
    rx = fresh();
    expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_PING, p126, sizeof p126), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    assert_int_equal(ws_rx_frame(&rx, FIN | WS_OP_PING, p126, 125), WS_RX_PING);
    rx = fresh();
    expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_PONG, p126, sizeof p126), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    expect_fail(&rx, str_frame(&rx, WS_OP_PING, "p"), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    expect_fail(&rx, str_frame(&rx, WS_OP_CLOSE, ""), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    expect_fail(&rx, str_frame(&rx, FIN | WS_OP_CONT, "x"), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    expect_fail(&rx, str_frame(&rx, WS_OP_CONT, "x"), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    assert_int_equal(str_frame(&rx, WS_OP_TEXT, "{"), WS_RX_NONE);
    expect_fail(&rx, str_frame(&rx, FIN | WS_OP_TEXT, "{}"), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    rx = fresh();
    expect_fail(&rx, ws_rx_unmasked(&rx), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    /* a failed connection stays failed, with the first reason */
    const char *why = rx.why;
    assert_int_equal(str_frame(&rx, FIN | WS_OP_TEXT, "{}"), WS_RX_FAIL);
    assert_ptr_equal(rx.why, why);
    assert_int_equal(rx.code, WS_CLOSE_PROTOCOL);
}

static void binary_and_utf8(void **state)
{
    (void)state;
    ws_rx_t rx = fresh();
    expect_fail(&rx, str_frame(&rx, FIN | WS_OP_BINARY, "{}"), WS_CLOSE_UNSUPPORTED, WS_RX_ERR_UNSUPPORTED);
    rx = fresh();
    expect_fail(&rx, str_frame(&rx, FIN | WS_OP_TEXT, "\"\xc3\x28\""), WS_CLOSE_BAD_DATA, WS_RX_ERR_BAD_UTF8);
    /* a character split across two fragments is fine */
    rx = fresh();
    assert_int_equal(str_frame(&rx, WS_OP_TEXT, "\"\xc3"), WS_RX_NONE);
    assert_int_equal(str_frame(&rx, FIN | WS_OP_CONT, "\xa9\""), WS_RX_TEXT);
    /* overlong, surrogate, above U+10FFFF, truncated */
    assert_false(ws_rx_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
    assert_false(ws_rx_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
    assert_false(ws_rx_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
    assert_false(ws_rx_utf8_valid((const uint8_t *)"\xe2\x82", 2));
    assert_false(ws_rx_utf8_valid((const uint8_t *)"\xff", 1));
    assert_true(ws_rx_utf8_valid((const uint8_t *)"\xe2\x82\xac \xf0\x9f\x94\x8b", 8));
}

static void close_frames(void **state)
{
    (void)state;
    ws_rx_t rx = fresh();
    assert_int_equal(ws_rx_frame(&rx, FIN | WS_OP_CLOSE, NULL, 0), WS_RX_CLOSE);
    assert_int_equal(rx.code, 0);
    rx = fresh();
    assert_int_equal(ws_rx_frame(&rx, FIN | WS_OP_CLOSE, (const uint8_t *)"\x03\xe8" "bye", 5), WS_RX_CLOSE);
    assert_int_equal(rx.code, 1000);
    rx = fresh();
    assert_int_equal(ws_rx_frame(&rx, FIN | WS_OP_CLOSE, (const uint8_t *)"\x0f\xa0", 2), WS_RX_CLOSE); /* 4000 */
    assert_int_equal(rx.code, 4000);
    static const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        rx = fresh();
        expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_CLOSE, p, 2), WS_CLOSE_PROTOCOL, WS_RX_ERR_PROTOCOL);
    }
    rx = fresh();
    expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_CLOSE, (const uint8_t *)"\x03", 1), WS_CLOSE_PROTOCOL,
                WS_RX_ERR_PROTOCOL);
    rx = fresh();
    expect_fail(&rx, ws_rx_frame(&rx, FIN | WS_OP_CLOSE, (const uint8_t *)"\x03\xe8\xff", 3), WS_CLOSE_BAD_DATA,
                WS_RX_ERR_BAD_UTF8);
}

static void close_payload_fits_a_control_frame(void **state)
{
    (void)state;
    uint8_t out[200];
    size_t n = ws_rx_close_payload(out, sizeof out, 1009, "message too big");
    assert_int_equal(n, 2 + 15);
    assert_int_equal(out[0], 0x03);
    assert_int_equal(out[1], 0xF1);
    char lng[300];
    memset(lng, 'a', sizeof lng);
    memcpy(lng + 122, "\xe2\x82\xac", 3); /* a character across the 125-byte boundary */
    lng[sizeof lng - 1] = '\0';
    n = ws_rx_close_payload(out, sizeof out, 1002, lng);
    assert_int_equal(n, 124);
    assert_true(ws_rx_utf8_valid(out + 2, n - 2));
    assert_int_equal(ws_rx_close_payload(out, 1, 1000, "x"), 0);
    assert_int_equal(ws_rx_close_payload(out, 2, 1000, "x"), 2);
}

static size_t hdr(uint8_t *o, uint8_t b0, bool mask, uint64_t len)
{
    size_t n = 0;
    o[n++] = b0;
    uint8_t m = mask ? 0x80u : 0u;
    if (len < 126u) {
        o[n++] = (uint8_t)(m | len);
    } else if (len < 65536u) {
        o[n++] = (uint8_t)(m | 126u);
        o[n++] = (uint8_t)(len >> 8);
        o[n++] = (uint8_t)len;
    } else {
        o[n++] = (uint8_t)(m | 127u);
        for (int i = 7; i >= 0; i--) {
            o[n++] = (uint8_t)(len >> (8 * i));
        }
    }
    if (mask) {
        memcpy(o + n, "\x11\x22\x33\x44", 4);
        n += 4;
    }
    return n;
}

static void scan_stream(const uint8_t *p, size_t n, size_t piece, ws_rx_scan_t *sc)
{
    ws_rx_scan_init(sc);
    for (size_t i = 0; i < n; i += piece) {
        ws_rx_scan(sc, p + i, n - i < piece ? n - i : piece);
    }
}

static void scanner_finds_unmasked_frames_in_any_split(void **state)
{
    (void)state;
    static uint8_t s[70000 + 200];
    size_t n = 0;
    /* masked frames of every length form, with payload bytes that look like headers */
    n += hdr(s + n, FIN | WS_OP_TEXT, true, 5);
    memset(s + n, 0x81, 5);
    n += 5;
    n += hdr(s + n, FIN | WS_OP_PING, true, 0);
    n += hdr(s + n, WS_OP_TEXT, true, 300);
    memset(s + n, 0x00, 300);
    n += 300;
    n += hdr(s + n, FIN | WS_OP_CONT, true, 70000 - 400);
    memset(s + n, 0x01, 70000 - 400);
    n += 70000 - 400;
    size_t clean = n;
    for (size_t piece = 1; piece <= 4096; piece = piece * 3 + 1) {
        ws_rx_scan_t sc;
        scan_stream(s, clean, piece, &sc);
        assert_false(sc.unmasked);
        assert_int_equal(sc.frames, 4);
        assert_int_equal(sc.skip, 0);
        assert_int_equal(sc.have, 0);
    }
    /* then an unmasked one */
    n += hdr(s + n, FIN | WS_OP_TEXT, false, 2);
    memcpy(s + n, "{}", 2);
    n += 2;
    for (size_t piece = 1; piece <= 4096; piece = piece * 3 + 1) {
        ws_rx_scan_t sc;
        scan_stream(s, n, piece, &sc);
        assert_true(sc.unmasked);
        assert_int_equal(sc.frames, 5);
    }
    /* an unmasked header with a 64-bit length, cut after its first byte */
    ws_rx_scan_t sc;
    uint8_t h[16];
    size_t hl = hdr(h, FIN | WS_OP_TEXT, false, 1u << 20);
    ws_rx_scan_init(&sc);
    ws_rx_scan(&sc, h, 1);
    assert_false(sc.unmasked);
    ws_rx_scan(&sc, h + 1, hl - 1);
    assert_true(sc.unmasked);
    assert_int_equal(sc.skip, 1u << 20);
}

/* The declared lengths, checked on the header (the gate refuses before civetweb allocates). */
static void scanner_checks_declared_lengths(void **state)
{
    (void)state;
    struct {
        uint8_t b0;
        uint64_t len;
        bool too_big, control_too_long;
    } cases[] = {
        {FIN | WS_OP_TEXT, 512, false, false},       {FIN | WS_OP_TEXT, 513, true, false},
        {WS_OP_CONT, 0x7FFFFFFFull, true, false},    {FIN | WS_OP_PING, 125, false, false},
        {FIN | WS_OP_PING, 126, false, true},        {FIN | WS_OP_CLOSE, 65535, false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t h[16];
        size_t hl = hdr(h, cases[i].b0, true, cases[i].len);
        ws_rx_scan_t sc;
        ws_rx_scan_init(&sc);
        assert_true(sc.max_data == UINT64_MAX); /* by default nothing is checked */
        sc.max_data = 512;
        ws_rx_scan(&sc, h, hl); /* the header alone: the payload never needs to arrive */
        assert_int_equal(sc.too_big, cases[i].too_big);
        assert_int_equal(sc.control_too_long, cases[i].control_too_long);
        assert_false(sc.unmasked);
    }
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(ws_rx_err_name(WS_RX_ERR_PROTOCOL), "protocol_error");
    assert_string_equal(ws_rx_err_name(WS_RX_ERR_UNSUPPORTED), "unsupported_data");
    assert_string_equal(ws_rx_err_name(WS_RX_ERR_BAD_UTF8), "invalid_utf8");
    assert_string_equal(ws_rx_err_name(WS_RX_ERR_TOO_BIG), "too_big");
    assert_string_equal(ws_rx_err_name(WS_RX_ERR_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_text_message),
        cmocka_unit_test(fragments_reassembled_with_control_frames_between),
        cmocka_unit_test(limit_is_the_sum_of_the_fragments),
        cmocka_unit_test(protocol_errors),
        cmocka_unit_test(binary_and_utf8),
        cmocka_unit_test(close_frames),
        cmocka_unit_test(close_payload_fits_a_control_frame),
        cmocka_unit_test(scanner_finds_unmasked_frames_in_any_split),
        cmocka_unit_test(scanner_checks_declared_lengths),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
