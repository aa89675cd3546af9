#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/crc16.h"
#include "core/tb_proto.h"
#include "tb_vectors.h"

/* Every golden request frame is produced byte for byte by the encoders. */
static void encoders_match_vendor_frames(void **state)
{
    (void)state;
    for (size_t i = 0; i < tbv_requests_count; i++) {
        const tbv_request_t *v = &tbv_requests[i];
        uint8_t buf[64];
        int n = -1;
        switch (v->kind) {
        case TBV_READ: n = tb_enc_read(buf, sizeof buf, v->addr, v->count); break;
        case TBV_WRITE: n = tb_enc_write(buf, sizeof buf, v->addr, v->vals, v->count); break;
        case TBV_SIMPLE: n = tb_enc_simple(buf, sizeof buf, v->arg); break;
        case TBV_RESET: n = tb_enc_reset(buf, sizeof buf, v->arg); break;
        case TBV_QUERY: n = tb_enc_settings_query(buf, sizeof buf, v->arg, v->count); break;
        case TBV_INDIV_READ: n = tb_enc_read_indiv(buf, sizeof buf, v->vals, v->count); break;
        case TBV_INDIV_WRITE: n = tb_enc_write_indiv(buf, sizeof buf, v->vals, v->vals2, v->count); break;
        }
        if (n != v->len || memcmp(buf, v->frame, v->len) != 0) {
            fail_msg("vector '%s' encodes wrongly (n=%d)", v->what, n);
        }
        /* and every golden frame carries a valid CRC (residue 0) */
        assert_int_equal(crc16_modbus(v->frame, v->len), 0);
    }
}

static void encoders_refuse_bad_arguments(void **state)
{
    (void)state;
    uint8_t buf[300];
    uint16_t vals[101] = {0};
    assert_int_equal(tb_enc_read(buf, sizeof buf, 0, 0), TB_ERR_RANGE);
    assert_int_equal(tb_enc_read(buf, sizeof buf, 0, 128), TB_ERR_RANGE);
    assert_int_equal(tb_enc_read(buf, sizeof buf, 65535, 2), TB_ERR_RANGE);
    assert_int_equal(tb_enc_read(buf, 7, 0, 1), TB_ERR_NOSPACE);
    assert_int_equal(tb_enc_read(buf, sizeof buf, 0, 127), 8);
    assert_int_equal(tb_enc_write(buf, sizeof buf, 299, vals, 1), TB_ERR_RANGE);  /* below the window */
    assert_int_equal(tb_enc_write(buf, sizeof buf, 399, vals, 2), TB_ERR_RANGE);  /* runs past 399 */
    assert_int_equal(tb_enc_write(buf, sizeof buf, 300, vals, 101), TB_ERR_RANGE);
    assert_int_equal(tb_enc_write(buf, sizeof buf, 300, vals, 100), 209);
    assert_int_equal(tb_enc_write(buf, 208, 300, vals, 100), TB_ERR_NOSPACE);
    assert_int_equal(tb_enc_simple(buf, sizeof buf, 0x03), TB_ERR_ARG);
    assert_int_equal(tb_enc_reset(buf, sizeof buf, 0x03), TB_ERR_ARG);
    assert_int_equal(tb_enc_settings_query(buf, sizeof buf, 0x05, 10), TB_ERR_ARG);
    assert_int_equal(tb_enc_settings_query(buf, sizeof buf, 0x01, 101), TB_ERR_RANGE);
    assert_int_equal(tb_enc_read_block(buf, sizeof buf, 0, 32), TB_ERR_RANGE);
    assert_int_equal(tb_enc_read_indiv(buf, sizeof buf, vals, 16), TB_ERR_RANGE);
    uint16_t a = 100;
    assert_int_equal(tb_enc_write_indiv(buf, sizeof buf, &a, vals, 1), TB_ERR_RANGE);
}

/* Feed bytes split at every possible position; the frame comes out exactly once. */
static void rx_any_split(void **state)
{
    (void)state;
    const tbv_reply_t *v = &tbv_reply_temps;
    for (size_t cut = 0; cut <= v->len; cut++) {
        tb_rx_t rx;
        tb_frame_t f;
        tb_rx_init(&rx, 50);
        int got = 0;
        assert_int_equal(tb_rx_push(&rx, v->frame, cut, 0), cut);
        while (tb_rx_next(&rx, 0, &f)) {
            got++;
        }
        assert_int_equal(tb_rx_push(&rx, v->frame + cut, v->len - cut, 1), v->len - cut);
        while (tb_rx_next(&rx, 1, &f)) {
            got++;
            assert_int_equal(f.cmd, 0x1B);
            assert_int_equal(f.len, v->len);
        }
        assert_int_equal(got, 1);
        assert_int_equal(rx.stats.crc_errors, 0);
    }
}

static void rx_byte_by_byte_and_temps(void **state)
{
    (void)state;
    tb_rx_t rx;
    tb_frame_t f;
    tb_rx_init(&rx, 50);
    int got = 0;
    for (size_t i = 0; i < tbv_reply_temps.len; i++) {
        tb_rx_push(&rx, &tbv_reply_temps.frame[i], 1, (uint32_t)i);
        while (tb_rx_next(&rx, (uint32_t)i, &f)) {
            got++;
        }
    }
    assert_int_equal(got, 1);
    int16_t t[3];
    assert_int_equal(tb_parse_temps(&f, t), TB_OK);
    assert_int_equal(t[0], 278);
    assert_int_equal(t[1], 276);
    assert_int_equal(t[2], 278);
}

/* Garbage (ASCII broadcast noise, random bytes, a stray 0xAA that looks like a long header,
 * a corrupted copy) before a valid frame: the valid frame is still delivered, errors counted. */
static void rx_resynchronises(void **state)
{
    (void)state;
    uint8_t stream[128];
    size_t n = 0;
    const char *ascii = "BPV:53.1\tMINCV:3312\t";
    memcpy(stream, ascii, strlen(ascii));
    n += strlen(ascii);
    stream[n++] = 0xAA;               /* stray header claiming a 0x03 reply of 254 bytes */
    stream[n++] = 0x03;
    stream[n++] = 0xFE;
    memcpy(stream + n, tbv_reply_temps.frame, tbv_reply_temps.len); /* corrupted copy */
    stream[n + 5] ^= 0x01;
    n += tbv_reply_temps.len;
    memcpy(stream + n, tbv_reply_write_echo.frame, tbv_reply_write_echo.len); /* the good frame */
    n += tbv_reply_write_echo.len;

    tb_rx_t rx;
    tb_frame_t f;
    tb_rx_init(&rx, 50);
    tb_rx_push(&rx, stream, n, 0);
    assert_true(tb_rx_next(&rx, 0, &f));
    assert_int_equal(f.cmd, 0x10);
    assert_int_equal(tb_parse_write(&f, 315, 2), TB_OK);
    assert_false(tb_rx_next(&rx, 0, &f));
    assert_int_equal(tb_rx_pending(&rx), 0);
    /* everything before the good frame was skipped: the false header made the receiver look
     * ahead for a complete valid frame, so the corrupted copy was never even CRC-checked */
    assert_int_equal(rx.stats.garbage_bytes, strlen(ascii) + 3 + tbv_reply_temps.len);
    assert_int_equal(rx.stats.frames, 1);

    /* a corrupted frame directly followed by a good one: CRC error counted, good one delivered */
    tb_rx_init(&rx, 50);
    uint8_t bad[16];
    memcpy(bad, tbv_reply_temps.frame, tbv_reply_temps.len);
    bad[4] ^= 0x80;
    tb_rx_push(&rx, bad, tbv_reply_temps.len, 0);
    tb_rx_push(&rx, tbv_reply_temps.frame, tbv_reply_temps.len, 0);
    assert_true(tb_rx_next(&rx, 0, &f));
    assert_int_equal(f.cmd, 0x1B);
    assert_false(tb_rx_next(&rx, 0, &f));
    assert_int_equal(rx.stats.crc_errors, 1);
    assert_int_equal(rx.stats.frames, 1);
}

/* A partial frame followed by silence longer than the gap is abandoned, not glued to the next. */
static void rx_gap_truncates(void **state)
{
    (void)state;
    tb_rx_t rx;
    tb_frame_t f;
    tb_rx_init(&rx, 50);
    tb_rx_push(&rx, tbv_reply_temps.frame, 6, 0);
    assert_false(tb_rx_next(&rx, 0, &f));
    tb_rx_push(&rx, tbv_reply_write_echo.frame, tbv_reply_write_echo.len, 200);
    assert_true(tb_rx_next(&rx, 200, &f));
    assert_int_equal(f.cmd, 0x10);
    assert_int_equal(rx.stats.truncated, 1);
}

static void rx_nack_ack_and_exception(void **state)
{
    (void)state;
    uint8_t b[16] = {0xAA, 0x00, 0x10, 0x01};
    uint16_t c = crc16_modbus(b, 4);
    b[4] = (uint8_t)c;
    b[5] = (uint8_t)(c >> 8);
    uint8_t ack[5] = {0xAA, 0x01, 0x02};
    c = crc16_modbus(ack, 3);
    ack[3] = (uint8_t)c;
    ack[4] = (uint8_t)(c >> 8);
    uint8_t exc[5] = {0xAA, 0x83, 0x02};
    c = crc16_modbus(exc, 3);
    exc[3] = (uint8_t)c;
    exc[4] = (uint8_t)(c >> 8);

    tb_rx_t rx;
    tb_frame_t f;
    tb_nack_t nk;
    tb_rx_init(&rx, 0);
    tb_rx_push(&rx, b, 6, 0);
    tb_rx_push(&rx, ack, 5, 0);
    tb_rx_push(&rx, exc, 5, 0);
    assert_true(tb_rx_next(&rx, 0, &f));
    assert_true(tb_parse_nack(&f, &nk));
    assert_int_equal(nk.cmd, 0x10);
    assert_int_equal(nk.err, TB_NACK_CRC);
    assert_int_equal(tb_parse_write(&f, 315, 2), TB_ERR_NACK);
    assert_int_equal(tb_parse_read(&f, 2, (uint16_t[2]){0}), TB_ERR_UNEXPECTED);
    assert_true(tb_rx_next(&rx, 0, &f));
    assert_int_equal(tb_parse_ack(&f, 0x02), TB_OK);
    assert_int_equal(tb_parse_ack(&f, 0x0D), TB_ERR_UNEXPECTED);
    assert_true(tb_rx_next(&rx, 0, &f));
    assert_true(tb_parse_nack(&f, &nk));
    assert_int_equal(nk.cmd, 0x03);
    assert_int_equal(nk.err, TB_NACK_MODBUS_EXCEPTION | 2u);
    assert_int_equal(tb_parse_read(&f, 1, (uint16_t[1]){0}), TB_ERR_NACK);
}

/* Build a frame with a correct CRC from a header+payload. */
static void mkframe(tb_frame_t *f, const uint8_t *b, size_t n)
{
    memcpy(f->bytes, b, n);
    uint16_t c = crc16_modbus(b, n);
    f->bytes[n] = (uint8_t)c;
    f->bytes[n + 1] = (uint8_t)(c >> 8);
    f->len = (uint16_t)(n + 2);
    f->cmd = b[1];
}

static void parse_read_reply_big_endian_low_word_first(void **state)
{
    (void)state;
    /* registers 36,37 = 0x1EB8, 0x425F -> 55.78 V ([C5] dump); 46,47 = 0xAA36, 0x04CD -> 80.587318 % */
    uint8_t b[] = {0xAA, 0x03, 0x08, 0x1E, 0xB8, 0x42, 0x5F, 0xAA, 0x36, 0x04, 0xCD};
    tb_frame_t f;
    mkframe(&f, b, sizeof b);
    uint16_t r[4];
    assert_int_equal(tb_parse_read(&f, 4, r), TB_OK);
    assert_int_equal(r[0], 0x1EB8);
    assert_int_equal(r[1], 0x425F);
    assert_float_equal(tb_float_from_regs(r), 55.78f, 0.001f);
    assert_int_equal(tb_u32_from_regs(r + 2), 80587318u);
    assert_int_equal(tb_parse_read(&f, 3, r), TB_ERR_FORMAT); /* wrong size */
    uint16_t back[2];
    tb_regs_from_float(55.78f, back);
    assert_int_equal(back[0], 0x1EB8);
    assert_int_equal(back[1], 0x425F);
}

static void parse_proprietary(void **state)
{
    (void)state;
    tb_frame_t f;
    /* 0x14 pack voltage 53.25 V little-endian float */
    float v = 53.25f;
    uint8_t b[8] = {0xAA, 0x14};
    memcpy(b + 2, &v, 4); /* host is little-endian in CI (x86/ARM/RISC-V) */
    mkframe(&f, b, 6);
    float got;
    assert_int_equal(tb_parse_float(&f, 0x14, &got), TB_OK);
    assert_float_equal(got, 53.25f, 0.0f);
    assert_int_equal(tb_parse_float(&f, 0x15, &got), TB_ERR_UNEXPECTED);
    uint8_t nan[6] = {0xAA, 0x15, 0x00, 0x00, 0xC0, 0x7F};
    mkframe(&f, nan, 6);
    assert_int_equal(tb_parse_float(&f, 0x15, &got), TB_ERR_FORMAT);

    uint8_t u16[4] = {0xAA, 0x18, 0x97, 0x00};
    mkframe(&f, u16, 4);
    uint16_t s;
    assert_int_equal(tb_parse_u16(&f, 0x18, &s), TB_OK);
    assert_int_equal(s, 0x97);

    uint8_t u32[6] = {0xAA, 0x1A, 0x36, 0xAA, 0xCD, 0x04};
    mkframe(&f, u32, 6);
    uint32_t soc;
    assert_int_equal(tb_parse_u32(&f, 0x1A, &soc), TB_OK);
    assert_int_equal(soc, 80587318u);

    uint8_t cells[] = {0xAA, 0x1C, 0x04, 0x40, 0x97, 0x41, 0x97};
    mkframe(&f, cells, sizeof cells);
    uint16_t cv[16];
    unsigned n;
    assert_int_equal(tb_parse_cells(&f, cv, 16, &n), TB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(cv[0], 0x9740); /* 38720 = 3.872 V */

    uint8_t ver[] = {0xAA, 0x1F, 0x07, 0x02, 0x01, 0x03, 0xF2, 0x00, 0x18, 0x04};
    mkframe(&f, ver, sizeof ver);
    tb_version_reply_t vr;
    assert_int_equal(tb_parse_version(&f, 0x1F, &vr), TB_OK);
    assert_int_equal(vr.hw_version, 2);
    assert_int_equal(vr.fw_internal, 242);
    assert_int_equal(vr.register_map, 4);
    assert_int_equal(tb_parse_version(&f, 0x1E, &vr), TB_ERR_UNEXPECTED);

    uint8_t q[] = {0xAA, 0x1D, 0x04, 0x42, 0x0E, 0xB8, 0x0B};
    mkframe(&f, q, sizeof q);
    uint16_t qv[2];
    assert_int_equal(tb_parse_settings_values(&f, 2, qv), TB_OK);
    assert_int_equal(qv[0], 3650);
    assert_int_equal(qv[1], 3000);

    uint8_t blk[] = {0xAA, 0x07, 0x04, 0x40, 0x97, 0x41, 0x97};
    mkframe(&f, blk, sizeof blk);
    assert_int_equal(tb_parse_read_block(&f, 2, qv), TB_OK);
    assert_int_equal(qv[1], 0x9741);
    uint8_t multi[] = {0xAA, 0x07, 0x84, 0x40, 0x97, 0x41, 0x97};
    mkframe(&f, multi, sizeof multi);
    assert_int_equal(tb_parse_read_block(&f, 2, qv), TB_ERR_UNSUPPORTED);

    /* 0x09: address/value pairs */
    uint8_t ind[] = {0xAA, 0x09, 0x08, 0x24, 0x00, 0xB8, 0x1E, 0x25, 0x00, 0x5F, 0x42};
    mkframe(&f, ind, sizeof ind);
    uint16_t addrs[2] = {36, 37}, vals[2];
    assert_int_equal(tb_parse_read_indiv(&f, addrs, 2, vals), TB_OK);
    assert_float_equal(tb_float_from_regs(vals), 55.78f, 0.001f);
    uint16_t wrong[2] = {36, 38};
    assert_int_equal(tb_parse_read_indiv(&f, wrong, 2, vals), TB_ERR_FORMAT);

    uint8_t spd[14] = {0xAA, 0x20};
    float kmh = 12.5f;
    memcpy(spd + 2, &kmh, 4);
    spd[6] = 42;
    spd[10] = 0x10;
    spd[11] = 0x0E;
    mkframe(&f, spd, 14);
    float sk;
    uint32_t dist, tl;
    assert_int_equal(tb_parse_speed(&f, &sk, &dist, &tl), TB_OK);
    assert_int_equal(dist, 42);
    assert_int_equal(tl, 3600);
}

static void parse_events(void **state)
{
    (void)state;
    /* BTSP 0x00B94E30, two records: (0xB94E2B, 0x64) charger connected, (0xB94E2C, 0x62) */
    uint8_t b[] = {0xAA, 0x11, 12, 0x30, 0x4E, 0xB9, 0x00, 0x2B, 0x4E, 0xB9, 0x64, 0x2C, 0x4E, 0xB9, 0x62};
    tb_frame_t f;
    mkframe(&f, b, sizeof b);
    bms_events_t ev;
    assert_int_equal(tb_parse_events(&f, 0x11, 5, &ev), TB_OK);
    assert_int_equal(ev.bms_time_s, 0xB94E30);
    assert_int_equal(ev.count, 2);
    assert_int_equal(ev.ev[0].timestamp_s, 0xB94E2B);
    assert_int_equal(ev.ev[0].id, 0x64);
    assert_int_equal(ev.ev[1].id, 0x62);
    assert_int_equal(tb_parse_events(&f, 0x12, 5, &ev), TB_ERR_UNEXPECTED);
    b[2] = 11; /* not 4 + 4n */
    mkframe(&f, b, sizeof b - 1);
    assert_int_equal(tb_parse_events(&f, 0x11, 5, &ev), TB_ERR_FORMAT);
}

static void frame_length_rules(void **state)
{
    (void)state;
    uint8_t b[3] = {0xAA, 0x03, 0x07};
    assert_int_equal(tb_frame_length(b, 3), -2); /* odd byte count */
    b[2] = 0;
    assert_int_equal(tb_frame_length(b, 3), -2);
    b[2] = 0xFE;
    assert_int_equal(tb_frame_length(b, 3), 259);
    b[2] = 0xFF;
    assert_int_equal(tb_frame_length(b, 3), -2);
    assert_int_equal(tb_frame_length(b, 2), 0);
    b[1] = 0x09;
    b[2] = 0x88; /* bit-structured PL: size in bits 5..0 */
    assert_int_equal(tb_frame_length(b, 3), 13);
    b[1] = 0x9D; /* Modbus exception to function 0x1D: 5 bytes */
    assert_int_equal(tb_frame_length(b, 2), 5);
    b[1] = 0x42; /* no reply starts with this */
    assert_int_equal(tb_frame_length(b, 3), -1);
    b[0] = 0x00;
    assert_int_equal(tb_frame_length(b, 3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encoders_match_vendor_frames),
        cmocka_unit_test(encoders_refuse_bad_arguments),
        cmocka_unit_test(rx_any_split),
        cmocka_unit_test(rx_byte_by_byte_and_temps),
        cmocka_unit_test(rx_resynchronises),
        cmocka_unit_test(rx_gap_truncates),
        cmocka_unit_test(rx_nack_ack_and_exception),
        cmocka_unit_test(parse_read_reply_big_endian_low_word_first),
        cmocka_unit_test(parse_proprietary),
        cmocka_unit_test(parse_events),
        cmocka_unit_test(frame_length_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
