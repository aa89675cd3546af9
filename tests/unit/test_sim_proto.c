/* Unit tests of the simulator's UART responder (sim/sim.h): framing, CRC, NACKs, the vendor's
 * worked examples byte for byte, every command the gateway uses, sleep, reboot, wire faults. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/crc16.h"
#include "sim/sim.h"

static sim_t g_sim;
static uint32_t g_now;

static sim_t *mk(uint8_t cells, bool sleep)
{
    sim_config_t c;
    sim_config_default(&c);
    c.cells = cells;
    c.seed = 9;
    c.sleep_enabled = sleep;
    c.start_ms = 500;
    g_now = 500;
    assert_int_equal(sim_init(&g_sim, &c), SIM_OK);
    return &g_sim;
}

/* Append the CRC to b[0..n) and return n + 2. */
static size_t crc(uint8_t *b, size_t n)
{
    uint16_t c = crc16_modbus(b, n);
    b[n] = (uint8_t)(c & 0xFF);
    b[n + 1] = (uint8_t)(c >> 8);
    return n + 2;
}

static void tx(sim_t *s, const uint8_t *b, size_t n)
{
    sim_rx(s, b, n, g_now);
}

/* Let wire time pass (1 ms steps) and collect what the BMS sends. */
static size_t rx(sim_t *s, uint8_t *out, size_t cap, uint32_t ms)
{
    size_t n = 0;
    for (uint32_t k = 0; k < ms; k++) {
        g_now++;
        n += sim_tx(s, out + n, cap - n, g_now);
    }
    return n;
}

/* Send a request and return the reply collected over the next 50 ms. */
static size_t ask(sim_t *s, const uint8_t *req, size_t n, uint8_t *out, size_t cap)
{
    g_now += 20; /* > the idle gap: a fresh frame */
    tx(s, req, n);
    return rx(s, out, cap, 50);
}

static uint16_t reg(const sim_t *s, uint16_t a)
{
    uint16_t v = 0;
    sim_read_register(s, a, &v);
    return v;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static size_t read_req(uint8_t *b, uint16_t addr, uint16_t cnt)
{
    b[0] = 0xAA;
    b[1] = 0x03;
    b[2] = (uint8_t)(addr >> 8);
    b[3] = (uint8_t)addr;
    b[4] = (uint8_t)(cnt >> 8);
    b[5] = (uint8_t)cnt;
    return crc(b, 6);
}

static void expect_nack(const uint8_t *r, size_t n, uint8_t cmd, uint8_t err)
{
    uint8_t want[8] = {0xAA, 0x00, cmd, err};
    crc(want, 4);
    assert_int_equal(n, 6);
    assert_memory_equal(r, want, 6);
}

/* ---- Modbus-compatible commands ------------------------------------------------------------ */

static void vendor_write_example_byte_for_byte(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    static const uint8_t req[] = {0xAA, 0x10, 0x01, 0x3B, 0x00, 0x02, 0x04,
                                  0x10, 0x68, 0x09, 0xC4, 0x19, 0x61};
    static const uint8_t want[] = {0xAA, 0x10, 0x01, 0x3B, 0x00, 0x02, 0x28, 0x22};
    uint8_t r[64];
    size_t n = ask(s, req, sizeof req, r, sizeof r);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(r, want, sizeof want);
    assert_int_equal(reg(s, 315), 4200);
    assert_int_equal(reg(s, 316), 2500);
}

static void read_cells_top_aligned(void **state)
{
    (void)state;
    sim_t *s = mk(14, false);
    g_now += 300;
    sim_advance(s, g_now);
    static const uint8_t req[] = {0xAA, 0x03, 0x00, 0x00, 0x00, 0x10, 0x5D, 0xDD};
    uint8_t r[300];
    size_t n = ask(s, req, sizeof req, r, sizeof r);
    assert_int_equal(n, 5 + 32);
    assert_int_equal(r[0], 0xAA);
    assert_int_equal(r[1], 0x03);
    assert_int_equal(r[2], 32);
    assert_int_equal(crc16_modbus(r, n), 0);
    sim_truth_t t;
    sim_truth(s, &t);
    assert_int_equal(be16(r + 3), 0); /* slots 1 and 2 unused with 14 cells */
    assert_int_equal(be16(r + 5), 0);
    for (unsigned k = 0; k < 14; k++) {
        double v = be16(r + 3 + 2 * (2 + k)) / 10000.0; /* register 2 = cell 1 */
        assert_float_equal(v, t.cell_v[k], 0.0001);
    }
}

static void read_live_floats_low_word_first(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    sim_set_current(s, -12.5, g_now);
    g_now += 200;
    sim_advance(s, g_now);
    uint8_t q[8], r[300];
    size_t n = ask(s, q, read_req(q, 32, 24), r, sizeof r);
    assert_int_equal(n, 5 + 48);
    const uint8_t *d = r + 3;
    uint32_t u = be16(d + 2 * (36 - 32)) | ((uint32_t)be16(d + 2 * (37 - 32)) << 16);
    float pv;
    memcpy(&pv, &u, 4);
    sim_truth_t t;
    sim_truth(s, &t);
    assert_float_equal(pv, t.pack_v, 0.001);
    u = be16(d + 2 * (38 - 32)) | ((uint32_t)be16(d + 2 * (39 - 32)) << 16);
    float pi;
    memcpy(&pi, &u, 4);
    assert_float_equal(pi, -12.5, 1e-6);
    uint32_t soc = be16(d + 2 * (46 - 32)) | ((uint32_t)be16(d + 2 * (47 - 32)) << 16);
    assert_float_equal(soc / 1e6, t.bms_soc_pct, 1e-6);
    assert_int_equal(be16(d + 2 * (50 - 32)), SIM_STATUS_DISCHARGING);
    assert_int_equal(be16(d + 2 * (53 - 32)), 16);
    uint32_t life = be16(d) | ((uint32_t)be16(d + 2) << 16);
    assert_int_equal(life, 86400);
}

static void read_limits(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t q[8], r[300];
    assert_int_equal(ask(s, q, read_req(q, 300, 127), r, sizeof r), 5 + 254);
    assert_int_equal(be16(r + 3), 3550);
    expect_nack(r, ask(s, q, read_req(q, 0, 128), r, sizeof r), 0x03, 0x00);
    expect_nack(r, ask(s, q, read_req(q, 0, 0), r, sizeof r), 0x03, 0x00);
    expect_nack(r, ask(s, q, read_req(q, 590, 11), r, sizeof r), 0x03, 0x00);
    assert_int_equal(ask(s, q, read_req(q, 590, 10), r, sizeof r), 5 + 20);
    /* the serial number: six binary words */
    assert_int_equal(ask(s, q, read_req(q, 500, 10), r, sizeof r), 5 + 20);
    assert_int_equal(be16(r + 3), 0x0102);
    assert_int_equal(be16(r + 5), 0x0301);
    assert_int_equal(be16(r + 9), 0x0418);
}

static void bad_crc_and_unknown_command(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t q[16], r[64];
    size_t n = read_req(q, 0, 16);
    q[7] ^= 0x01;
    expect_nack(r, ask(s, q, n, r, sizeof r), 0x03, 0x01);
    /* unknown command: refused at once, the rest of its bytes discarded */
    uint8_t u[] = {0xAA, 0x55, 0x01, 0xAA, 0x03, 0x00};
    expect_nack(r, ask(s, u, sizeof u, r, sizeof r), 0x55, 0x00);
    /* 0x00/0x01 are reply markers, not requests */
    uint8_t z[8] = {0xAA, 0x00};
    expect_nack(r, ask(s, z, crc(z, 2), r, sizeof r), 0x00, 0x00);
    /* after the gap, service resumes */
    assert_int_equal(ask(s, q, read_req(q, 0, 16), r, sizeof r), 37);
    sim_counters_t c;
    sim_counters(s, &c);
    assert_int_equal(c.nack_crc, 1);
    assert_int_equal(c.nack_cmd, 2);
}

static void garbage_partial_frames_and_pipelining(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t q[16], r[256];
    size_t n = read_req(q, 40, 2);
    /* noise before a request is skipped */
    uint8_t noisy[32] = {0x00, 0x13, 0xFF, 0x41};
    memcpy(noisy + 4, q, n);
    assert_int_equal(ask(s, noisy, 4 + n, r, sizeof r), 9);
    /* a partial request followed by silence is dropped, the next one is answered */
    g_now += 20;
    tx(s, q, 5);
    assert_int_equal(rx(s, r, sizeof r, 30), 0);
    assert_int_equal(ask(s, q, n, r, sizeof r), 9);
    /* a request split in two writes within the gap still works */
    g_now += 20;
    tx(s, q, 3);
    g_now += 2;
    tx(s, q + 3, n - 3);
    assert_int_equal(rx(s, r, sizeof r, 20), 9);
    /* two requests in one write: two replies, in order */
    uint8_t two[32];
    memcpy(two, q, n);
    size_t m = read_req(two + n, 53, 1);
    assert_int_equal(ask(s, two, n + m, r, sizeof r), 9 + 7);
    assert_int_equal(r[2], 4);
    assert_int_equal(r[9 + 2], 2);
    assert_int_equal(be16(r + 9 + 3), 16);
    sim_counters_t c;
    sim_counters(s, &c);
    assert_int_equal(c.rx_partial_dropped, 1);
    assert_int_equal(c.rx_garbage, 4);
}

static void write_refusals(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t r[64];
    /* 315 = 5000 mV: out of range, and 316 in the same block is not written either */
    uint8_t w[] = {0xAA, 0x10, 0x01, 0x3B, 0x00, 0x02, 0x04, 0x13, 0x88, 0x09, 0xC4, 0, 0};
    expect_nack(r, ask(s, w, crc(w, 11), r, sizeof r), 0x10, 0x00);
    assert_int_equal(reg(s, 315), 3800);
    assert_int_equal(reg(s, 316), 2800);
    /* read-only address */
    uint8_t ro[] = {0xAA, 0x10, 0x00, 0x32, 0x00, 0x01, 0x02, 0x00, 0x01, 0, 0};
    expect_nack(r, ask(s, ro, crc(ro, 9), r, sizeof r), 0x10, 0x00);
    /* byte count that does not match the register count */
    uint8_t bc[] = {0xAA, 0x10, 0x01, 0x2C, 0x00, 0x01, 0x04, 0x0D, 0xDE, 0x00, 0x00, 0, 0};
    expect_nack(r, ask(s, bc, crc(bc, 11), r, sizeof r), 0x10, 0x00);
    /* block running past 399 */
    uint8_t past[] = {0xAA, 0x10, 0x01, 0x8F, 0x00, 0x02, 0x04, 0, 0, 0, 0, 0, 0};
    expect_nack(r, ask(s, past, crc(past, 11), r, sizeof r), 0x10, 0x00);
    /* signed register 320 accepts -40, refuses -41 */
    uint8_t lt[] = {0xAA, 0x10, 0x01, 0x40, 0x00, 0x01, 0x02, 0xFF, 0xD8, 0, 0};
    assert_int_equal(ask(s, lt, crc(lt, 9), r, sizeof r), 8);
    lt[8] = 0xD7;
    expect_nack(r, ask(s, lt, crc(lt, 9), r, sizeof r), 0x10, 0x00);
    assert_int_equal(reg(s, 320), 0xFFD8);
}

/* ---- proprietary commands ------------------------------------------------------------------ */

static void reset_clear_and_reboot(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t r[256];
    uint8_t ack[8] = {0xAA, 0x01, 0x02};
    crc(ack, 3);
    static const uint8_t clr_ev[] = {0xAA, 0x02, 0x01, 0x91, 0x40};
    static const uint8_t clr_st[] = {0xAA, 0x02, 0x02, 0xD1, 0x41};
    static const uint8_t reset[] = {0xAA, 0x02, 0x05, 0x90, 0x83};
    assert_int_not_equal(reg(s, 201), 0);
    assert_int_equal(ask(s, clr_ev, sizeof clr_ev, r, sizeof r), 5);
    assert_memory_equal(r, ack, 5);
    assert_int_equal(reg(s, 201), 0);
    sim_set_current(s, -30, g_now);
    g_now += 300;
    assert_true(reg(s, 102) == 0);
    sim_advance(s, g_now);
    assert_int_equal(reg(s, 102), 300);
    sim_set_current(s, 0, g_now);
    assert_int_equal(ask(s, clr_st, sizeof clr_st, r, sizeof r), 5);
    assert_int_equal(reg(s, 102), 0);
    uint32_t life = reg(s, 32) | ((uint32_t)reg(s, 33) << 16);
    assert_int_equal(reg(s, 116) | ((uint32_t)reg(s, 117) << 16), life);
    uint8_t bad[8] = {0xAA, 0x02, 0x03};
    expect_nack(r, ask(s, bad, crc(bad, 3), r, sizeof r), 0x02, 0x00);
    /* reset: ACK, then silence while it restarts, then service again */
    assert_int_equal(ask(s, reset, sizeof reset, r, sizeof r), 5);
    assert_memory_equal(r, ack, 5);
    uint8_t q[8];
    size_t n = read_req(q, 50, 1);
    assert_int_equal(ask(s, q, n, r, sizeof r), 0);
    g_now += 1500;
    assert_int_equal(ask(s, q, n, r, sizeof r), 7);
    assert_int_equal(reg(s, 114) & 0xFF, 4);
    assert_int_equal(reg(s, 201) >> 8, 0x61); /* system started (after the clear) */
}

static void settings_min_max_default_current(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t r[256];
    static const uint8_t mins[] = {0xAA, 0x1D, 0x01, 0x00, 0x2C, 0x6A, 0x69};
    static const uint8_t defs[] = {0xAA, 0x1D, 0x03, 0x00, 0x2C, 0xCB, 0xA9};
    size_t n = ask(s, mins, sizeof mins, r, sizeof r);
    assert_int_equal(n, 5 + 88);
    assert_int_equal(r[2], 88);
    assert_int_equal(crc16_modbus(r, n), 0);
    assert_int_equal(le16(r + 3 + 2 * 0), 1200);         /* 300 */
    assert_int_equal((int16_t)le16(r + 3 + 2 * 20), -40); /* 320 */
    assert_int_equal(le16(r + 3 + 2 * 7), 4);             /* 307 */
    n = ask(s, defs, sizeof defs, r, sizeof r);
    assert_int_equal(le16(r + 3), 3550);
    assert_int_equal(le16(r + 3 + 2 * 15), 3800);
    uint8_t q[8] = {0xAA, 0x1D, 0x02, 0x00, 0x64};
    n = ask(s, q, crc(q, 5), r, sizeof r);
    assert_int_equal(n, 5 + 200);
    assert_int_equal(le16(r + 3 + 2 * 15), 4500); /* 315 max */
    q[2] = 0x04;
    q[4] = 44;
    n = ask(s, q, crc(q, 5), r, sizeof r);
    for (unsigned k = 0; k < 44; k++) {
        assert_int_equal(le16(r + 3 + 2 * k), reg(s, (uint16_t)(300 + k)));
    }
    q[2] = 0x05;
    expect_nack(r, ask(s, q, crc(q, 5), r, sizeof r), 0x1D, 0x00);
    q[2] = 0x01;
    q[4] = 101;
    expect_nack(r, ask(s, q, crc(q, 5), r, sizeof r), 0x1D, 0x00);
}

static void proprietary_reads_little_endian(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    sim_set_current(s, 3.25, g_now);
    g_now += 200;
    sim_advance(s, g_now);
    uint8_t r[256];
    /* 0x09 vendor example: registers 36 and 37, address echoed before each value */
    static const uint8_t l9[] = {0xAA, 0x09, 0x04, 0x24, 0x00, 0x25, 0x00, 0xF0, 0x33};
    size_t n = ask(s, l9, sizeof l9, r, sizeof r);
    assert_int_equal(n, 13);
    assert_int_equal(r[2], 8);
    assert_int_equal(le16(r + 3), 36);
    assert_int_equal(le16(r + 5), reg(s, 36));
    assert_int_equal(le16(r + 7), 37);
    assert_int_equal(le16(r + 9), reg(s, 37));
    /* 0x07 block: RL, address little-endian */
    uint8_t b7[8] = {0xAA, 0x07, 0x02, 0x26, 0x00};
    n = ask(s, b7, crc(b7, 5), r, sizeof r);
    assert_int_equal(n, 9);
    uint32_t u = le16(r + 3) | ((uint32_t)le16(r + 5) << 16);
    float f;
    memcpy(&f, &u, 4);
    assert_float_equal(f, 3.25, 1e-6);
    b7[2] = 32;
    expect_nack(r, ask(s, b7, crc(b7, 5), r, sizeof r), 0x07, 0x00);
    /* single values */
    struct {
        uint8_t cmd;
        size_t len;
        uint16_t r0;
    } one[] = {{0x14, 8, 36}, {0x15, 8, 38}, {0x16, 6, 41}, {0x17, 6, 40},
               {0x18, 6, 50}, {0x19, 8, 32}, {0x1A, 8, 46}};
    for (unsigned k = 0; k < sizeof one / sizeof one[0]; k++) {
        uint8_t q[4] = {0xAA, one[k].cmd};
        g_now += 20;
        sim_advance(s, g_now);
        uint16_t e0 = reg(s, one[k].r0), e1 = reg(s, (uint16_t)(one[k].r0 + 1));
        tx(s, q, crc(q, 2));
        n = rx(s, r, sizeof r, 50);
        assert_int_equal(n, one[k].len);
        assert_int_equal(r[1], one[k].cmd);
        assert_int_equal(crc16_modbus(r, n), 0);
        assert_int_equal(le16(r + 2), e0);
        if (n == 8) {
            assert_int_equal(le16(r + 4), e1);
        }
    }
    sim_set_current(s, 0, g_now);
    g_now += 1000;
    static const uint8_t t1b[] = {0xAA, 0x1B, 0x3F, 0x1B};
    n = ask(s, t1b, sizeof t1b, r, sizeof r);
    assert_int_equal(n, 11);
    assert_int_equal(r[2], 6);
    assert_int_equal(le16(r + 3), reg(s, 48));
    assert_int_equal(le16(r + 5), reg(s, 42));
    assert_int_equal(le16(r + 7), reg(s, 43));
    static const uint8_t c1c[] = {0xAA, 0x1C, 0x7E, 0xD9};
    n = ask(s, c1c, sizeof c1c, r, sizeof r);
    assert_int_equal(n, 5 + 32);
    assert_int_equal(le16(r + 3), reg(s, 0)); /* 16 cells: cell 1 = register 0 */
    static const uint8_t v1e[] = {0xAA, 0x1E, 0xFF, 0x18};
    n = ask(s, v1e, sizeof v1e, r, sizeof r);
    assert_int_equal(n, 10);
    static const uint8_t want1e[] = {0xAA, 0x1E, 5, 0x02, 0x01, 0x01, 242, 0};
    assert_memory_equal(r, want1e, sizeof want1e);
    static const uint8_t v1f[] = {0xAA, 0x1F, 0x3E, 0xD8};
    n = ask(s, v1f, sizeof v1f, r, sizeof r);
    assert_int_equal(n, 12);
    assert_int_equal(r[2], 7);
    assert_int_equal(r[8], 0x18);
    assert_int_equal(r[9], 0x04);
    static const uint8_t v20[] = {0xAA, 0x20, 0x7E, 0xC8};
    assert_int_equal(ask(s, v20, sizeof v20, r, sizeof r), 16);
}

static void proprietary_writes(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t r[64];
    uint8_t ack[8] = {0xAA, 0x01, 0x0D};
    crc(ack, 3);
    static const uint8_t w0d[] = {0xAA, 0x0D, 0x04, 0x2C, 0x01, 0x42, 0x0E, 0x09, 0xE3};
    assert_int_equal(ask(s, w0d, sizeof w0d, r, sizeof r), 5);
    assert_memory_equal(r, ack, 5);
    assert_int_equal(reg(s, 300), 3650);
    /* 0x0B: PL counts the data bytes; write 315, 316 */
    uint8_t w0b[16] = {0xAA, 0x0B, 0x04, 0x3B, 0x01, 0x10, 0x0E, 0xB8, 0x0B};
    assert_int_equal(ask(s, w0b, crc(w0b, 9), r, sizeof r), 5);
    assert_int_equal(r[1], 0x01);
    assert_int_equal(r[2], 0x0B);
    assert_int_equal(reg(s, 315), 3600);
    assert_int_equal(reg(s, 316), 3000);
    /* a refused value in a 0x0D list writes nothing */
    uint8_t bad[16] = {0xAA, 0x0D, 0x08, 0x2C, 0x01, 0xB0, 0x04, 0x3B, 0x01, 0xFF, 0xFF};
    expect_nack(r, ask(s, bad, crc(bad, 11), r, sizeof r), 0x0D, 0x00);
    assert_int_equal(reg(s, 300), 3650);
}

static void events_newest_and_all(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t r[256];
    static const uint8_t newest[] = {0xAA, 0x11, 0xBF, 0x1C};
    static const uint8_t all[] = {0xAA, 0x12, 0xFF, 0x1D};
    size_t n = ask(s, newest, sizeof newest, r, sizeof r);
    assert_int_equal(n, 5 + 8);
    assert_int_equal(r[2], 8);
    assert_int_equal(le16(r + 3), 86400 & 0xFFFF); /* BTSP: lifetime now */
    assert_int_equal(r[10], 0x61);                 /* system started */
    assert_int_equal(r[7] | (r[8] << 8) | (r[9] << 16), 86400);
    n = ask(s, newest, sizeof newest, r, sizeof r);
    assert_int_equal(n, 5 + 4); /* nothing new */
    sim_set_current(s, 5, g_now); /* charger connected, charging started */
    g_now += 300;
    sim_advance(s, g_now);
    n = ask(s, newest, sizeof newest, r, sizeof r);
    assert_int_equal(n, 5 + 12);
    assert_int_equal(r[10], 0x64);
    assert_int_equal(r[14], 0x62);
    n = ask(s, all, sizeof all, r, sizeof r);
    assert_int_equal(n, 5 + 4 + 12);
    assert_int_equal(r[10], 0x61);
}

/* ---- sleep and reboot ---------------------------------------------------------------------- */

static void sleep_swallows_first_request(void **state)
{
    (void)state;
    sim_t *s = mk(16, true);
    uint8_t q[8], r[64];
    size_t n = read_req(q, 50, 1);
    g_now += 9000;
    assert_int_equal(ask(s, q, n, r, sizeof r), 7); /* 9 s: still awake */
    g_now += 10100;
    sim_advance(s, g_now);
    sim_truth_t t;
    sim_truth(s, &t);
    assert_true(t.asleep);
    assert_int_equal(ask(s, q, n, r, sizeof r), 0); /* wakes it, no answer */
    g_now += 200;
    assert_int_equal(ask(s, q, n, r, sizeof r), 7); /* the repeat is answered */
    assert_int_equal(reg(s, 114) >> 8, 3);          /* woken by UART */
    sim_counters_t c;
    sim_counters(s, &c);
    assert_int_equal(c.swallowed, 1);
    assert_int_equal(c.wakeups, 1);
    /* polling every second keeps it awake */
    for (int k = 0; k < 30; k++) {
        g_now += 1000;
        assert_int_equal(ask(s, q, n, r, sizeof r), 7);
    }
    /* current flowing keeps it awake too */
    sim_set_current(s, -5, g_now);
    g_now += 30000;
    sim_advance(s, g_now);
    assert_int_equal(ask(s, q, n, r, sizeof r), 7);
    /* asleep, the BMS measures once a minute: registers freeze between samples */
    sim_set_current(s, 0, g_now);
    g_now += 12000;
    sim_advance(s, g_now);
    sim_truth(s, &t);
    assert_true(t.asleep);
    uint16_t t42 = reg(s, 42);
    sim_set_temperature(s, 35, g_now);
    g_now += 10000;
    sim_advance(s, g_now);
    assert_int_equal(reg(s, 42), t42);
    g_now += 50000;
    sim_advance(s, g_now);
    assert_true(reg(s, 42) > 340 && reg(s, 42) <= 350);
}

static void write_340_reboots_after_reply(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    uint8_t r[64], q[8];
    uint8_t w[16] = {0xAA, 0x10, 0x01, 0x54, 0x00, 0x01, 0x02, 0x00, 0x01};
    size_t n = ask(s, w, crc(w, 9), r, sizeof r);
    assert_int_equal(n, 8); /* the echo still goes out */
    assert_int_equal(r[1], 0x10);
    size_t m = read_req(q, 340, 1);
    assert_int_equal(ask(s, q, m, r, sizeof r), 0);
    g_now += 1000;
    assert_int_equal(ask(s, q, m, r, sizeof r), 0);
    g_now += 500;
    assert_int_equal(ask(s, q, m, r, sizeof r), 7);
    assert_int_equal(be16(r + 3), 1);
    sim_counters_t c;
    sim_counters(s, &c);
    assert_int_equal(c.reboots, 1);
    assert_true(c.rx_while_rebooting >= 16);
}

/* ---- wire faults --------------------------------------------------------------------------- */

static size_t clean_reply(uint8_t *r)
{
    sim_t *s = mk(16, false);
    uint8_t q[8];
    return ask(s, q, read_req(q, 0, 10), r, 64);
}

static void fault(sim_t *s, sim_fault_kind_t k, double p, uint32_t param)
{
    sim_fault_t f = {p, param, 0};
    assert_int_equal(sim_set_fault(s, k, &f, g_now), SIM_OK);
}

static void wire_faults(void **state)
{
    (void)state;
    uint8_t ref[64], r[128], q[8];
    size_t len = clean_reply(ref);
    assert_int_equal(len, 25);
    size_t n = read_req(q, 0, 10);

    sim_t *s = mk(16, false);
    fault(s, SIM_FAULT_NOREPLY, 1.0, 0);
    assert_int_equal(ask(s, q, n, r, sizeof r), 0);

    s = mk(16, false);
    fault(s, SIM_FAULT_CRC, 1.0, 0);
    assert_int_equal(ask(s, q, n, r, sizeof r), len);
    assert_int_not_equal(crc16_modbus(r, len), 0);
    assert_memory_equal(r, ref, len - 2);

    s = mk(16, false);
    fault(s, SIM_FAULT_TRUNCATE, 1.0, 0);
    size_t k = ask(s, q, n, r, sizeof r);
    assert_true(k >= 1 && k < len);
    assert_memory_equal(r, ref, k);

    s = mk(16, false);
    fault(s, SIM_FAULT_DELAY, 1.0, 300);
    g_now += 20;
    tx(s, q, n);
    assert_int_equal(rx(s, r, sizeof r, 300), 0);
    assert_int_equal(rx(s, r, sizeof r, 2), len);
    assert_memory_equal(r, ref, len);

    s = mk(16, false);
    fault(s, SIM_FAULT_SPLIT, 1.0, 7);
    g_now += 20;
    tx(s, q, n);
    size_t got = rx(s, r, sizeof r, 5);
    assert_true(got >= 1 && got <= 4);
    size_t pieces = 1;
    while (got < len) {
        size_t more = rx(s, r + got, sizeof r - got, 7);
        assert_true(more >= 1 && more <= 4);
        got += more;
        pieces++;
    }
    assert_true(pieces >= 7);
    assert_memory_equal(r, ref, len);

    s = mk(16, false);
    fault(s, SIM_FAULT_GARBAGE, 1.0, 0);
    k = ask(s, q, n, r, sizeof r);
    assert_true(k > len && k <= len + 8);
    /* the reply is intact around one inserted run of bytes */
    size_t pre = 0;
    while (pre < len && r[pre] == ref[pre]) {
        pre++;
    }
    assert_memory_equal(r + pre + (k - len), ref + pre, len - pre);

    /* a probability is honoured, and deterministic given the seed */
    int bad[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        s = mk(16, false);
        fault(s, SIM_FAULT_CRC, 0.25, 0);
        for (int j = 0; j < 200; j++) {
            k = ask(s, q, n, r, sizeof r);
            assert_int_equal(k, len);
            bad[run] += crc16_modbus(r, len) != 0;
        }
        sim_counters_t c;
        sim_counters(s, &c);
        assert_int_equal(c.injected[SIM_FAULT_CRC], (uint32_t)bad[run]);
    }
    assert_int_equal(bad[0], bad[1]);
    assert_true(bad[0] > 25 && bad[0] < 75);
    /* cleared: clean again */
    sim_clear_faults(s, g_now);
    assert_int_equal(ask(s, q, n, r, sizeof r), len);
    assert_int_equal(crc16_modbus(r, len), 0);
}

static void open_temperature_sensor(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    fault(s, SIM_FAULT_TEMP_OPEN, 1.0, 2);
    g_now += 200;
    sim_advance(s, g_now);
    assert_int_equal(reg(s, 43), 0x8000);
    assert_int_not_equal(reg(s, 42), 0x8000);
    uint8_t r[32];
    static const uint8_t t1b[] = {0xAA, 0x1B, 0x3F, 0x1B};
    assert_int_equal(ask(s, t1b, sizeof t1b, r, sizeof r), 11);
    assert_int_equal(le16(r + 7), 0x8000);
    sim_clear_fault(s, SIM_FAULT_TEMP_OPEN, g_now);
    g_now += 200;
    sim_advance(s, g_now);
    assert_int_not_equal(reg(s, 43), 0x8000);
}

static void broadcast_text_between_frames(void **state)
{
    (void)state;
    sim_t *s = mk(16, false);
    assert_int_equal(sim_write_register(s, 343, 1, g_now), SIM_OK); /* ASCII */
    assert_int_equal(sim_write_register(s, 342, 4, g_now), SIM_OK); /* every 1 s */
    static uint8_t r[4096];
    size_t n = rx(s, r, sizeof r - 1, 2500);
    r[n] = 0;
    const char *p = (const char *)r;
    int lines = 0;
    while ((p = strstr(p, "BPV:")) != NULL) {
        lines++;
        p++;
    }
    assert_true(lines >= 2 && lines <= 3);
    assert_non_null(strstr((const char *)r, "\tOS:151\t"));
    assert_null(memchr(r, 0xAA, n)); /* ASCII never holds the frame header */
    /* a request in between still gets a whole frame */
    uint8_t q[8];
    g_now += 20;
    tx(s, q, read_req(q, 50, 1));
    n = rx(s, r, sizeof r, 5);
    assert_int_equal(n, 7);
    assert_int_equal(crc16_modbus(r, 7), 0);
    /* CA V3: 13 tab-separated numbers */
    assert_int_equal(sim_write_register(s, 343, 0, g_now), SIM_OK);
    n = rx(s, r, sizeof r - 1, 1100);
    r[n] = 0;
    int tabs = 0;
    for (size_t k = 0; k < n && r[k] != '\n'; k++) {
        tabs += r[k] == '\t';
    }
    assert_int_equal(tabs, 12);
    assert_int_equal(sim_write_register(s, 342, 0, g_now), SIM_OK);
    n = rx(s, r, sizeof r, 3000);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vendor_write_example_byte_for_byte),
        cmocka_unit_test(read_cells_top_aligned),
        cmocka_unit_test(read_live_floats_low_word_first),
        cmocka_unit_test(read_limits),
        cmocka_unit_test(bad_crc_and_unknown_command),
        cmocka_unit_test(garbage_partial_frames_and_pipelining),
        cmocka_unit_test(write_refusals),
        cmocka_unit_test(reset_clear_and_reboot),
        cmocka_unit_test(settings_min_max_default_current),
        cmocka_unit_test(proprietary_reads_little_endian),
        cmocka_unit_test(proprietary_writes),
        cmocka_unit_test(events_newest_and_all),
        cmocka_unit_test(sleep_swallows_first_request),
        cmocka_unit_test(write_340_reboots_after_reply),
        cmocka_unit_test(wire_faults),
        cmocka_unit_test(open_temperature_sensor),
        cmocka_unit_test(broadcast_text_between_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
