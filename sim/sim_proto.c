/* The TinyBMS UART as seen from the device: request framing, the Modbus-compatible 0x03/0x10
 * commands, the proprietary 0xAA commands, sleep, the transmit queue and the wire faults.
 *
 * Framing: the receiver hunts for 0xAA, takes the length from the command byte (and the
 * length byte where there is one), and checks the CRC when the frame is complete. An idle gap
 * of SIM_RX_GAP_MS between two bytes abandons a partial frame (as a Modbus RTU slave's
 * silence timer would). An unknown command is refused at once with AA 00 CMD 00 and the rest
 * of its bytes, up to the next idle gap, are discarded. A bad CRC gets AA 00 CMD 01. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/crc16.h"
#include "sim/sim_internal.h"

#define NACK_CMD 0x00
#define NACK_CRC 0x01
#define FRAME_MAX 300u

/* ---- transmit queue and wire faults -------------------------------------------------------- */

void sim__rx_reset(sim_t *s)
{
    s->rx_len = 0;
    s->rx_need = 0;
    s->rx_discard = false;
    s->rx_swallow = false;
}

static size_t tx_free(const sim_t *s)
{
    return SIM_TX_CAP - s->tx_len;
}

static void tx_push(sim_t *s, uint8_t b, uint32_t due)
{
    if ((int32_t)(due - s->tx_last_due) < 0) {
        due = s->tx_last_due; /* the UART is FIFO: a byte never overtakes an earlier one */
    }
    size_t at = (s->tx_head + s->tx_len) % SIM_TX_CAP;
    s->tx_buf[at] = b;
    s->tx_due[at] = due;
    s->tx_len++;
    s->tx_last_due = due;
}

/* Queue bytes without faults (broadcast text). */
static void tx_plain(sim_t *s, const uint8_t *b, size_t n, uint32_t due)
{
    if (n > tx_free(s)) {
        s->cnt.tx_overflow++;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        tx_push(s, b[k], due);
    }
}

static bool fault_hit(sim_t *s, sim_fault_kind_t k)
{
    return s->fault_on[k] && sim__rng_hit(&s->rng_fault, s->fault[k].probability);
}

/* Append the CRC to frame[0..len) and queue it through the wire faults. */
static void send_frame(sim_t *s, uint8_t *frame, size_t len, uint32_t now)
{
    uint16_t crc = crc16_modbus(frame, len);
    frame[len++] = (uint8_t)(crc & 0xFF);
    frame[len++] = (uint8_t)(crc >> 8);
    s->cnt.replies++;
    if (frame[1] == 0x00) {
        if (frame[3] == NACK_CRC) {
            s->cnt.nack_crc++;
        } else {
            s->cnt.nack_cmd++;
        }
    } else if (frame[1] == 0x01) {
        s->cnt.acks++;
    }

    if (fault_hit(s, SIM_FAULT_NOREPLY)) {
        s->cnt.injected[SIM_FAULT_NOREPLY]++;
        return;
    }
    uint8_t out[FRAME_MAX + 16];
    memcpy(out, frame, len);
    if (fault_hit(s, SIM_FAULT_TRUNCATE) && len > 1) {
        len = 1 + sim__rng_below(&s->rng_fault, (uint32_t)(len - 1));
        s->cnt.injected[SIM_FAULT_TRUNCATE]++;
    }
    if (fault_hit(s, SIM_FAULT_CRC)) {
        out[len - 1] ^= (uint8_t)(1 + sim__rng_below(&s->rng_fault, 255));
        s->cnt.injected[SIM_FAULT_CRC]++;
    }
    if (fault_hit(s, SIM_FAULT_GARBAGE)) {
        size_t k = 1 + sim__rng_below(&s->rng_fault, 8);
        size_t pos = sim__rng_below(&s->rng_fault, (uint32_t)(len + 1));
        memmove(out + pos + k, out + pos, len - pos);
        for (size_t j = 0; j < k; j++) {
            out[pos + j] = (uint8_t)sim__rng_below(&s->rng_fault, 256);
        }
        len += k;
        s->cnt.injected[SIM_FAULT_GARBAGE]++;
    }
    uint32_t due = now + s->cfg.reply_latency_ms;
    if (fault_hit(s, SIM_FAULT_DELAY)) {
        due += s->fault[SIM_FAULT_DELAY].param;
        s->cnt.injected[SIM_FAULT_DELAY]++;
    }
    if (len > tx_free(s)) {
        s->cnt.tx_overflow++;
        return;
    }
    if (fault_hit(s, SIM_FAULT_SPLIT)) {
        s->cnt.injected[SIM_FAULT_SPLIT]++;
        uint32_t gap = s->fault[SIM_FAULT_SPLIT].param;
        size_t k = 0;
        while (k < len) {
            size_t piece = 1 + sim__rng_below(&s->rng_fault, 4);
            for (size_t j = 0; j < piece && k < len; j++, k++) {
                tx_push(s, out[k], due);
            }
            due += gap;
        }
        return;
    }
    for (size_t k = 0; k < len; k++) {
        tx_push(s, out[k], due);
    }
}

static void send_nack(sim_t *s, uint8_t cmd, uint8_t err, uint32_t now)
{
    uint8_t f[8] = {0xAA, 0x00, cmd, err};
    send_frame(s, f, 4, now);
}

static void send_ack(sim_t *s, uint8_t cmd, uint32_t now)
{
    uint8_t f[8] = {0xAA, 0x01, cmd};
    send_frame(s, f, 3, now);
}

size_t sim_tx(sim_t *s, uint8_t *out, size_t cap, uint32_t now)
{
    if (!s || (!out && cap)) {
        return 0;
    }
    sim_advance(s, now);
    size_t n = 0;
    while (n < cap && s->tx_len > 0 && (int32_t)(now - s->tx_due[s->tx_head]) >= 0) {
        out[n++] = s->tx_buf[s->tx_head];
        s->tx_head = (s->tx_head + 1) % SIM_TX_CAP;
        s->tx_len--;
    }
    s->cnt.tx_bytes += (uint32_t)n;
    return n;
}

bool sim_tx_pending(const sim_t *s, uint32_t *due)
{
    if (!s || s->tx_len == 0) {
        return false;
    }
    if (due) {
        *due = s->tx_due[s->tx_head];
    }
    return true;
}

/* ---- little helpers for building replies --------------------------------------------------- */

static size_t put_le16(uint8_t *p, size_t at, uint16_t v)
{
    p[at] = (uint8_t)(v & 0xFF);
    p[at + 1] = (uint8_t)(v >> 8);
    return at + 2;
}

static size_t put_le32(uint8_t *p, size_t at, uint32_t v)
{
    at = put_le16(p, at, (uint16_t)(v & 0xFFFF));
    return put_le16(p, at, (uint16_t)(v >> 16));
}

/* A 32-bit register pair (low word at addr) as one value. */
static uint32_t reg32(const sim_t *s, uint16_t addr)
{
    return sim__reg(s, addr) | ((uint32_t)sim__reg(s, (uint16_t)(addr + 1)) << 16);
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((unsigned)p[1] << 8));
}

/* ---- command handlers (frame is complete and its CRC is good) ------------------------------ */

static void cmd_read_modbus(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint16_t addr = get_be16(f + 2), cnt = get_be16(f + 4);
    if (cnt == 0 || cnt > 127 || (uint32_t)addr + cnt > SIM_REG_SPACE) {
        send_nack(s, 0x03, NACK_CMD, now);
        return;
    }
    uint8_t r[FRAME_MAX];
    size_t n = 0;
    r[n++] = 0xAA;
    r[n++] = 0x03;
    r[n++] = (uint8_t)(cnt * 2);
    for (uint16_t k = 0; k < cnt; k++) {
        uint16_t v = sim__reg(s, (uint16_t)(addr + k));
        r[n++] = (uint8_t)(v >> 8);
        r[n++] = (uint8_t)(v & 0xFF);
    }
    send_frame(s, r, n, now);
}

static void cmd_write_modbus(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint16_t addr = get_be16(f + 2), cnt = get_be16(f + 4);
    uint8_t bc = f[6];
    if (cnt == 0 || cnt > 100 || bc != cnt * 2) {
        send_nack(s, 0x10, NACK_CMD, now);
        return;
    }
    uint16_t addrs[100], vals[100];
    for (uint16_t k = 0; k < cnt; k++) {
        addrs[k] = (uint16_t)(addr + k);
        vals[k] = get_be16(f + 7 + 2 * k);
    }
    if ((uint32_t)addr + cnt > SIM_SETTINGS_FIRST + SIM_SETTINGS_COUNT ||
        sim__write_list(s, addrs, vals, cnt, now) != SIM_OK) {
        send_nack(s, 0x10, NACK_CMD, now);
        return;
    }
    uint8_t r[16] = {0xAA, 0x10, f[2], f[3], f[4], f[5]};
    send_frame(s, r, 6, now);
}

static void clear_events(sim_t *s)
{
    memset(s->ev, 0, sizeof s->ev);
    s->ev_head = 0;
    s->ev_count = 0;
    s->ev_unreported = 0;
}

static void clear_stats(sim_t *s)
{
    s->st_distance = 0;
    s->st_max_dis_da = s->st_max_chg_da = s->st_max_diff_01mv = 0;
    memset(s->st_count, 0, sizeof s->st_count);
    s->st_charging = s->st_full = 0;
    double t = s->t_ext1;
    s->st_tmin = s->st_tmax = (int8_t)(t < -128 ? -128 : (t > 127 ? 127 : floor(t + 0.5)));
    s->st_cleared_ts = sim__lifetime(s);
}

static void cmd_reset(sim_t *s, const uint8_t *f, uint32_t now)
{
    switch (f[2]) {
    case 0x01:
        clear_events(s);
        send_ack(s, 0x02, now);
        break;
    case 0x02:
        clear_stats(s);
        send_ack(s, 0x02, now);
        break;
    case 0x05:
        send_ack(s, 0x02, now);
        sim__begin_reboot(s, now);
        break;
    default:
        send_nack(s, 0x02, NACK_CMD, now);
        break;
    }
}

static void cmd_read_block(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint8_t rl = f[2];
    uint16_t addr = get_le16(f + 3);
    /* One packet carries at most 63 payload bytes; multi-packet replies are undocumented. */
    if (rl == 0 || rl > 31 || (uint32_t)addr + rl > SIM_REG_SPACE) {
        send_nack(s, 0x07, NACK_CMD, now);
        return;
    }
    uint8_t r[80];
    size_t n = 0;
    r[n++] = 0xAA;
    r[n++] = 0x07;
    r[n++] = (uint8_t)(rl * 2);
    for (uint8_t k = 0; k < rl; k++) {
        n = put_le16(r, n, sim__reg(s, (uint16_t)(addr + k)));
    }
    send_frame(s, r, n, now);
}

static void cmd_read_list(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint8_t pl = f[2];
    if (pl == 0 || (pl & 1) || pl / 2 > 15) {
        send_nack(s, 0x09, NACK_CMD, now);
        return;
    }
    uint8_t r[80];
    size_t n = 0;
    r[n++] = 0xAA;
    r[n++] = 0x09;
    r[n++] = (uint8_t)(pl * 2);
    for (unsigned k = 0; k < pl / 2u; k++) {
        uint16_t a = get_le16(f + 3 + 2 * k);
        if (a >= SIM_REG_SPACE) {
            send_nack(s, 0x09, NACK_CMD, now);
            return;
        }
        n = put_le16(r, n, a);
        n = put_le16(r, n, sim__reg(s, a));
    }
    send_frame(s, r, n, now);
}

static void cmd_write_block(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint8_t pl = f[2];
    unsigned dlen = pl & 0x3Fu;
    /* PL counts the data bytes only (the address is not included); a multi-packet write
     * (bit 7) is not supported. */
    if ((pl & 0xC0u) || dlen == 0 || (dlen & 1u)) {
        send_nack(s, 0x0B, NACK_CMD, now);
        return;
    }
    uint16_t addr = get_le16(f + 3);
    uint16_t addrs[32], vals[32];
    unsigned cnt = dlen / 2;
    for (unsigned k = 0; k < cnt; k++) {
        addrs[k] = (uint16_t)(addr + k);
        vals[k] = get_le16(f + 5 + 2 * k);
    }
    if ((uint32_t)addr + cnt > SIM_SETTINGS_FIRST + SIM_SETTINGS_COUNT ||
        sim__write_list(s, addrs, vals, cnt, now) != SIM_OK) {
        send_nack(s, 0x0B, NACK_CMD, now);
        return;
    }
    send_ack(s, 0x0B, now);
}

static void cmd_write_list(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint8_t pl = f[2];
    unsigned dlen = pl & 0x3Fu;
    if ((pl & 0xC0u) || dlen == 0 || (dlen % 4u)) {
        send_nack(s, 0x0D, NACK_CMD, now);
        return;
    }
    uint16_t addrs[16], vals[16];
    unsigned cnt = dlen / 4;
    for (unsigned k = 0; k < cnt; k++) {
        addrs[k] = get_le16(f + 3 + 4 * k);
        vals[k] = get_le16(f + 5 + 4 * k);
    }
    if (sim__write_list(s, addrs, vals, cnt, now) != SIM_OK) {
        send_nack(s, 0x0D, NACK_CMD, now);
        return;
    }
    send_ack(s, 0x0D, now);
}

/* 0x11: the records logged since the last 0x11/0x12; 0x12: the whole ring. Oldest first. */
static void cmd_events(sim_t *s, uint8_t cmd, uint32_t now)
{
    unsigned n_ev = cmd == 0x11 ? s->ev_unreported : s->ev_count;
    uint8_t r[FRAME_MAX];
    size_t n = 0;
    r[n++] = 0xAA;
    r[n++] = cmd;
    r[n++] = (uint8_t)(4 + 4 * n_ev);
    n = put_le32(r, n, sim__lifetime(s));
    for (unsigned k = 0; k < n_ev; k++) {
        unsigned slot = (s->ev_head + SIM_EVENT_SLOTS - n_ev + k) % SIM_EVENT_SLOTS;
        const sim_event_t *e = &s->ev[slot];
        r[n++] = (uint8_t)(e->ts & 0xFF);
        r[n++] = (uint8_t)((e->ts >> 8) & 0xFF);
        r[n++] = (uint8_t)((e->ts >> 16) & 0xFF);
        r[n++] = e->id;
    }
    s->ev_unreported = 0;
    send_frame(s, r, n, now);
}

static void cmd_settings(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint8_t opt = f[2], rl = f[4];
    if (opt < 1 || opt > 4 || f[3] != 0 || rl == 0 || rl > 100) {
        send_nack(s, 0x1D, NACK_CMD, now);
        return;
    }
    uint8_t r[FRAME_MAX];
    size_t n = 0;
    r[n++] = 0xAA;
    r[n++] = 0x1D;
    r[n++] = (uint8_t)(2 * rl);
    for (unsigned k = 0; k < rl; k++) {
        n = put_le16(r, n, sim__setting_opt(s, opt, (uint16_t)(SIM_SETTINGS_FIRST + k)));
    }
    send_frame(s, r, n, now);
}

static void cmd_single(sim_t *s, uint8_t cmd, uint32_t now)
{
    uint8_t r[48];
    size_t n = 0;
    r[n++] = 0xAA;
    r[n++] = cmd;
    switch (cmd) {
    case 0x14: n = put_le32(r, n, reg32(s, 36)); break;
    case 0x15: n = put_le32(r, n, reg32(s, 38)); break;
    case 0x16: n = put_le16(r, n, sim__reg(s, 41)); break;
    case 0x17: n = put_le16(r, n, sim__reg(s, 40)); break;
    case 0x18: n = put_le16(r, n, sim__reg(s, 50)); break;
    case 0x19: n = put_le32(r, n, reg32(s, 32)); break;
    case 0x1A: n = put_le32(r, n, reg32(s, 46)); break;
    case 0x1B:
        r[n++] = 6;
        n = put_le16(r, n, sim__reg(s, 48));
        n = put_le16(r, n, sim__reg(s, 42));
        n = put_le16(r, n, sim__reg(s, 43));
        break;
    case 0x1C:
        /* the populated cells, cell 1 first */
        r[n++] = (uint8_t)(2 * s->n);
        for (unsigned k = 0; k < s->n; k++) {
            n = put_le16(r, n, s->pub.cell_01mv[k]);
        }
        break;
    case 0x1E:
    case 0x1F:
        r[n++] = cmd == 0x1E ? 5 : 7;
        r[n++] = (uint8_t)(s->hw[0] & 0xFF);
        r[n++] = (uint8_t)(s->hw[0] >> 8);
        r[n++] = (uint8_t)(s->hw[1] & 0xFF);
        n = put_le16(r, n, s->hw[2]);
        if (cmd == 0x1F) {
            r[n++] = (uint8_t)(s->hw[3] & 0xFF);
            r[n++] = (uint8_t)(s->hw[3] >> 8);
        }
        break;
    case 0x20:
        n = put_le32(r, n, reg32(s, 54));
        n = put_le32(r, n, sim__reg(s, 44));
        n = put_le32(r, n, reg32(s, 34));
        break;
    default:
        break;
    }
    send_frame(s, r, n, now);
}

static void execute(sim_t *s, const uint8_t *f, uint32_t now)
{
    uint8_t cmd = f[1];
    switch (cmd) {
    case 0x02: cmd_reset(s, f, now); break;
    case 0x03: cmd_read_modbus(s, f, now); break;
    case 0x07: cmd_read_block(s, f, now); break;
    case 0x09: cmd_read_list(s, f, now); break;
    case 0x0B: cmd_write_block(s, f, now); break;
    case 0x0D: cmd_write_list(s, f, now); break;
    case 0x10: cmd_write_modbus(s, f, now); break;
    case 0x11:
    case 0x12: cmd_events(s, cmd, now); break;
    case 0x1D: cmd_settings(s, f, now); break;
    default: cmd_single(s, cmd, now); break;
    }
}

/* Total frame length for the header seen so far: > 0 known, 0 need more bytes, < 0 unknown
 * command. */
static int frame_len(const uint8_t *b, size_t have)
{
    switch (b[1]) {
    case 0x02: return 5;
    case 0x03: return 8;
    case 0x07: return 7;
    case 0x09: return have < 3 ? 0 : 5 + b[2];
    case 0x0B: return have < 3 ? 0 : 7 + (b[2] & 0x3F);
    case 0x0D: return have < 3 ? 0 : 5 + (b[2] & 0x3F);
    case 0x10: return have < 7 ? 0 : 9 + b[6];
    case 0x1D: return 7;
    case 0x11: case 0x12: case 0x14: case 0x15: case 0x16: case 0x17: case 0x18: case 0x19:
    case 0x1A: case 0x1B: case 0x1C: case 0x1E: case 0x1F: case 0x20:
        return 4;
    default:
        return -1;
    }
}

static void frame_done(sim_t *s, uint32_t now)
{
    const uint8_t *f = s->rx_buf;
    size_t len = s->rx_len;
    s->rx_len = 0;
    s->rx_need = 0;
    if (s->rx_swallow) {
        /* The BMS was asleep: this request only woke it up. */
        s->rx_swallow = false;
        s->cnt.swallowed++;
        return;
    }
    if (crc16_modbus(f, len) != 0) {
        send_nack(s, f[1], NACK_CRC, now);
        return;
    }
    s->cnt.rx_frames++;
    execute(s, f, now);
}

static void rx_byte(sim_t *s, uint8_t b, uint32_t now)
{
    if (s->rx_have_last && (int32_t)(now - s->rx_last_byte) >= (int32_t)SIM_RX_GAP_MS) {
        if (s->rx_len > 0) {
            s->cnt.rx_partial_dropped++;
        }
        sim__rx_reset(s);
    }
    s->rx_have_last = true;
    s->rx_last_byte = now;
    s->last_rx = now;
    if (s->asleep) {
        s->asleep = false;
        s->st_wake_src = 3; /* UART communication */
        s->cnt.wakeups++;
        s->rx_swallow = true;
    }
    if (s->rx_discard) {
        s->cnt.rx_garbage++;
        return;
    }
    if (s->rx_len == 0 && b != 0xAA) {
        s->cnt.rx_garbage++;
        return;
    }
    s->rx_buf[s->rx_len++] = b;
    if (s->rx_len == 1) {
        return;
    }
    if (s->rx_need == 0) {
        int need = frame_len(s->rx_buf, s->rx_len);
        if (need < 0) {
            uint8_t cmd = s->rx_buf[1];
            s->rx_len = 0;
            s->rx_discard = true;
            if (s->rx_swallow) {
                s->rx_swallow = false;
                s->cnt.swallowed++;
            } else {
                send_nack(s, cmd, NACK_CMD, now);
            }
            return;
        }
        s->rx_need = (size_t)need;
    }
    if (s->rx_need > 0 && s->rx_len >= s->rx_need) {
        frame_done(s, now);
    }
}

void sim_rx(sim_t *s, const uint8_t *bytes, size_t n, uint32_t now)
{
    if (!s || (!bytes && n)) {
        return;
    }
    sim_advance(s, now);
    s->cnt.rx_bytes += (uint32_t)n;
    for (size_t k = 0; k < n; k++) {
        if (s->rebooting) {
            s->cnt.rx_while_rebooting += (uint32_t)(n - k);
            return;
        }
        rx_byte(s, bytes[k], now);
    }
}

/* ---- unsolicited broadcast (register 342 != 0) ------------------------------------------- */

static const uint16_t k_bcast_ms[8] = {0, 100, 200, 500, 1000, 2000, 5000, 10000};

void sim__broadcast(sim_t *s, uint32_t t)
{
    uint16_t per = SIM_SET(s, 342);
    if (per == 0 || per > 7 || (int32_t)(t - s->bcast_next) < 0) {
        return;
    }
    s->bcast_next = t + k_bcast_ms[per];
    const sim_pub_t *p = &s->pub;
    char line[256];
    int k = 0;
    switch (SIM_SET(s, 343)) {
    case 0: /* CA V3: remaining Ah, pack V, pack A, speed, distance, max temp, then zeros */
        k = snprintf(line, sizeof line, "%.2f\t%.2f\t%.2f\t0.00\t0.00\t%.1f\t0\t0\t0\t0\t0\t0\t0\r\n",
                     s->bms_soc / 100.0 * SIM_SET(s, 306) / 100.0, (double)p->pack_v,
                     (double)p->pack_i, p->t_ext1 / 10.0);
        break;
    case 1: /* ASCII key:value pairs; OS is the online status in decimal */
        k = snprintf(line, sizeof line,
                     "BPV:%.2f\tMINCV:%u\tMAXCV:%u\tBPC:%.2f\tSOC:%.1f\tBMST:%.1f\tEXT1:%.1f\t"
                     "EXT2:%.1f\tOS:%u\tCB:%u\tCST:1\tCSS:1\tLST:1\tLSS:1\r\n",
                     (double)p->pack_v, (unsigned)p->min_mv, (unsigned)p->max_mv, (double)p->pack_i,
                     s->bms_soc, p->t_int / 10.0, p->t_ext1 / 10.0, p->t_ext2 / 10.0,
                     (unsigned)p->status, (unsigned)p->bal_active);
        break;
    default: /* SOC BAR: undocumented binary stream, not simulated */
        return;
    }
    if (k > 0 && (size_t)k < sizeof line) {
        tx_plain(s, (const uint8_t *)line, (size_t)k, t);
    }
}
