#include "core/tb_proto.h"
#include "core/tb_bits.h"

#include <string.h>

#include "core/crc16.h"

/* ---- small helpers ----------------------------------------------------------------------- */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[1] << 8) | p[0]);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* IEEE-754 float, little-endian (proprietary replies). Non-finite values (exponent all ones,
 * exactly what isfinite() rejects, without its two soft-float comparisons) are not data. */
static int le_float(const uint8_t *p, float *out)
{
    tb_f32_bits_t v = {.u = le32(p)};
    if ((v.u & 0x7F800000u) == 0x7F800000u) {
        return TB_ERR_FORMAT;
    }
    *out = v.f;
    return TB_OK;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xFFu);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

/* Append the CRC of buf[0..len) and return the total length. */
static int seal(uint8_t *buf, size_t len)
{
    uint16_t c = crc16_modbus(buf, len);
    put_le16(buf + len, c);
    return (int)(len + 2u);
}

uint32_t tb_u32_from_regs(const uint16_t *regs)
{
    return (uint32_t)regs[0] | ((uint32_t)regs[1] << 16);
}

float tb_float_from_regs(const uint16_t *regs)
{
    tb_f32_bits_t v = {.u = tb_u32_from_regs(regs)};
    return v.f;
}

void tb_regs_from_u32(uint32_t v, uint16_t *regs)
{
    regs[0] = (uint16_t)(v & 0xFFFFu);
    regs[1] = (uint16_t)(v >> 16);
}

void tb_regs_from_float(float v, uint16_t *regs)
{
    tb_f32_bits_t b = {.f = v};
    tb_regs_from_u32(b.u, regs);
}

/* ---- encoders ---------------------------------------------------------------------------- */

int tb_enc_read(uint8_t *buf, size_t cap, uint16_t addr, unsigned count)
{
    if (count == 0u || count > TB_READ_MAX_REGS || (uint32_t)addr + count > 0x10000u) {
        return TB_ERR_RANGE;
    }
    if (!buf || cap < 8u) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_MB_READ;
    put_be16(buf + 2, addr);
    put_be16(buf + 4, (uint16_t)count);
    return seal(buf, 6u);
}

static bool in_write_window(uint16_t addr, unsigned count)
{
    return addr >= TB_WRITE_FIRST && (uint32_t)addr + count - 1u <= TB_WRITE_LAST;
}

int tb_enc_write(uint8_t *buf, size_t cap, uint16_t addr, const uint16_t *vals, unsigned count)
{
    if (count == 0u || count > TB_WRITE_MAX_REGS || !in_write_window(addr, count)) {
        return TB_ERR_RANGE;
    }
    if (!vals) {
        return TB_ERR_ARG;
    }
    size_t need = 9u + 2u * count;
    if (!buf || cap < need) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_MB_WRITE;
    put_be16(buf + 2, addr);
    put_be16(buf + 4, (uint16_t)count);
    buf[6] = (uint8_t)(2u * count);
    for (unsigned i = 0; i < count; i++) {
        put_be16(buf + 7 + 2u * i, vals[i]);
    }
    return seal(buf, 7u + 2u * count);
}

static bool is_simple_cmd(uint8_t cmd)
{
    switch (cmd) {
    case TB_CMD_EVENTS_NEWEST:
    case TB_CMD_EVENTS_ALL:
    case TB_CMD_PACK_VOLTAGE:
    case TB_CMD_PACK_CURRENT:
    case TB_CMD_MAX_CELL:
    case TB_CMD_MIN_CELL:
    case TB_CMD_STATUS:
    case TB_CMD_LIFETIME:
    case TB_CMD_SOC:
    case TB_CMD_TEMPS:
    case TB_CMD_CELLS:
    case TB_CMD_VERSION:
    case TB_CMD_VERSION_EXT:
    case TB_CMD_SPEED:
        return true;
    default:
        return false;
    }
}

int tb_enc_simple(uint8_t *buf, size_t cap, uint8_t cmd)
{
    if (!is_simple_cmd(cmd)) {
        return TB_ERR_ARG;
    }
    if (!buf || cap < 4u) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = cmd;
    return seal(buf, 2u);
}

int tb_enc_reset(uint8_t *buf, size_t cap, uint8_t option)
{
    if (option != TB_RESET_CLEAR_EVENTS && option != TB_RESET_CLEAR_STATS && option != TB_RESET_BMS) {
        return TB_ERR_ARG;
    }
    if (!buf || cap < 5u) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_RESET;
    buf[2] = option;
    return seal(buf, 3u);
}

int tb_enc_settings_query(uint8_t *buf, size_t cap, uint8_t option, unsigned count)
{
    if (option < TB_SETTINGS_MIN || option > TB_SETTINGS_CURRENT) {
        return TB_ERR_ARG;
    }
    if (count == 0u || count > TB_SETTINGS_QUERY_MAX) {
        return TB_ERR_RANGE;
    }
    if (!buf || cap < 7u) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_SETTINGS;
    buf[2] = option;
    buf[3] = 0x00;
    buf[4] = (uint8_t)count;
    return seal(buf, 5u);
}

int tb_enc_read_block(uint8_t *buf, size_t cap, uint16_t addr, unsigned count)
{
    if (count == 0u || count > TB_READ_BLOCK_MAX || (uint32_t)addr + count > 0x10000u) {
        return TB_ERR_RANGE;
    }
    if (!buf || cap < 7u) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_READ_BLOCK;
    buf[2] = (uint8_t)count;
    put_le16(buf + 3, addr);
    return seal(buf, 5u);
}

int tb_enc_read_indiv(uint8_t *buf, size_t cap, const uint16_t *addrs, unsigned n)
{
    if (n == 0u || n > TB_INDIV_MAX) {
        return TB_ERR_RANGE;
    }
    if (!addrs) {
        return TB_ERR_ARG;
    }
    size_t need = 5u + 2u * n;
    if (!buf || cap < need) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_READ_INDIV;
    buf[2] = (uint8_t)(2u * n);
    for (unsigned i = 0; i < n; i++) {
        put_le16(buf + 3 + 2u * i, addrs[i]);
    }
    return seal(buf, 3u + 2u * n);
}

int tb_enc_write_indiv(uint8_t *buf, size_t cap, const uint16_t *addrs, const uint16_t *vals, unsigned n)
{
    if (n == 0u || n > TB_INDIV_MAX) {
        return TB_ERR_RANGE;
    }
    if (!addrs || !vals) {
        return TB_ERR_ARG;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!in_write_window(addrs[i], 1u)) {
            return TB_ERR_RANGE;
        }
    }
    size_t need = 5u + 4u * n;
    if (!buf || cap < need) {
        return TB_ERR_NOSPACE;
    }
    buf[0] = TB_ADDR;
    buf[1] = TB_CMD_WRITE_INDIV;
    buf[2] = (uint8_t)(4u * n);
    for (unsigned i = 0; i < n; i++) {
        put_le16(buf + 3 + 4u * i, addrs[i]);
        put_le16(buf + 5 + 4u * i, vals[i]);
    }
    return seal(buf, 3u + 4u * n);
}

/* ---- receive state machine -------------------------------------------------------------- */

/* A Modbus exception reply: function code | 0x80, exception code, CRC (5 bytes). The TinyBMS
 * itself answers errors with AA 00, but Modbus gateways and other firmware use exceptions, and
 * recognising them turns a would-be timeout into an immediate, explained failure. No TinyBMS
 * command code has bit 7 set, so the two cannot be confused. */
static bool is_modbus_exception(uint8_t cmd)
{
    return (cmd & 0x80u) != 0u;
}

/* Reply length by command byte: the whole frame's length for fixed-size replies; RL_PL for a
 * payload-length byte at offset 2 (frame = 5 + PL), RL_PL6 for one whose low 6 bits count (the
 * proprietary block and individual reads); 0 for a byte that starts no reply. */
enum { RL_PL = 0xFE, RL_PL6 = 0xFF };
static const uint8_t k_reply_len[TB_CMD_SPEED + 1] = {
    [TB_CMD_NACK] = 6,           [TB_CMD_ACK] = 5,          [TB_CMD_MB_READ] = RL_PL,
    [TB_CMD_READ_BLOCK] = RL_PL6, [TB_CMD_READ_INDIV] = RL_PL6, [TB_CMD_MB_WRITE] = 8,
    [TB_CMD_EVENTS_NEWEST] = RL_PL, [TB_CMD_EVENTS_ALL] = RL_PL, [TB_CMD_PACK_VOLTAGE] = 8,
    [TB_CMD_PACK_CURRENT] = 8,   [TB_CMD_MAX_CELL] = 6,     [TB_CMD_MIN_CELL] = 6,
    [TB_CMD_STATUS] = 6,         [TB_CMD_LIFETIME] = 8,     [TB_CMD_SOC] = 8,
    [TB_CMD_TEMPS] = RL_PL,      [TB_CMD_CELLS] = RL_PL,    [TB_CMD_SETTINGS] = RL_PL,
    [TB_CMD_VERSION] = RL_PL,    [TB_CMD_VERSION_EXT] = RL_PL, [TB_CMD_SPEED] = 16,
};

int tb_frame_length(const uint8_t *b, size_t n)
{
    if (n < 1u) {
        return 0;
    }
    if (b[0] != TB_ADDR) {
        return -1;
    }
    if (n < 2u) {
        return 0;
    }
    uint8_t cmd = b[1];
    if (is_modbus_exception(cmd)) {
        return 5; /* no TinyBMS command has bit 7 set */
    }
    unsigned t = cmd < sizeof k_reply_len ? k_reply_len[cmd] : 0u;
    if (t == 0u) {
        return -1;
    }
    if (t < RL_PL) {
        return (int)t;
    }
    if (n < 3u) {
        return 0;
    }
    uint8_t pl = b[2];
    if (cmd == TB_CMD_MB_READ && (pl == 0u || (pl & 1u) != 0u || pl > 2u * TB_READ_MAX_REGS)) {
        return -2; /* impossible byte count */
    }
    return (int)(5u + (t == RL_PL6 ? (pl & 0x3Fu) : pl));
}

void tb_rx_init(tb_rx_t *rx, uint32_t gap_ms)
{
    memset(rx, 0, sizeof *rx);
    rx->gap_ms = gap_ms;
}

static void drop(tb_rx_t *rx, size_t k)
{
    if (k >= rx->len) {
        rx->len = 0;
        return;
    }
    memmove(rx->buf, rx->buf + k, rx->len - k);
    rx->len = (uint16_t)(rx->len - k);
}

void tb_rx_flush(tb_rx_t *rx)
{
    if (rx->len > 0u) {
        if (rx->buf[0] == TB_ADDR) {
            rx->stats.truncated++;
        }
        rx->stats.garbage_bytes += rx->len;
    }
    rx->len = 0;
}

size_t tb_rx_push(tb_rx_t *rx, const uint8_t *data, size_t n, uint32_t now_ms)
{
    if (n == 0u) {
        return 0;
    }
    if (rx->len > 0u && rx->have_time && rx->gap_ms > 0u && (uint32_t)(now_ms - rx->last_ms) > rx->gap_ms) {
        tb_rx_flush(rx); /* the partial frame is stale: a new reply starts */
    }
    rx->have_time = true;
    rx->last_ms = now_ms;
    size_t room = sizeof rx->buf - rx->len;
    size_t take = n < room ? n : room;
    memcpy(rx->buf + rx->len, data, take);
    rx->len = (uint16_t)(rx->len + take);
    rx->stats.bytes += (uint32_t)take;
    rx->stats.overflow += (uint32_t)(n - take);
    return take;
}

/* Offset (> 0) of the first complete, CRC-valid frame after position 0, or 0 if none. */
static size_t find_complete_frame(const uint8_t *buf, size_t len)
{
    for (size_t i = 1; i + 5u <= len; i++) {
        if (buf[i] != TB_ADDR) {
            continue;
        }
        int k = tb_frame_length(buf + i, len - i);
        if (k > 0 && (size_t)k <= len - i && crc16_modbus(buf + i, (size_t)k) == 0u) {
            return i;
        }
    }
    return 0;
}

bool tb_rx_next(tb_rx_t *rx, uint32_t now_ms, tb_frame_t *out)
{
    (void)now_ms;
    while (rx->len > 0u) {
        if (rx->buf[0] != TB_ADDR) {
            const uint8_t *aa = memchr(rx->buf, TB_ADDR, rx->len);
            size_t skip = aa ? (size_t)(aa - rx->buf) : rx->len;
            rx->stats.garbage_bytes += (uint32_t)skip;
            drop(rx, skip);
            continue;
        }
        int need = tb_frame_length(rx->buf, rx->len);
        if (need == 0) {
            return false; /* wait for more bytes */
        }
        if (need < 0) {
            if (need == -2) {
                rx->stats.bad_length++;
            } else {
                rx->stats.unknown_cmd++;
            }
            rx->stats.garbage_bytes++;
            drop(rx, 1u);
            continue;
        }
        if ((size_t)need > rx->len) {
            /* A stray 0xAA (noise, broadcast data) can look like the header of a long frame and
             * would hold a real reply that follows it until the gap timeout. If a complete frame
             * with a valid CRC already sits later in the buffer, the header was false: skip to it. */
            size_t at = find_complete_frame(rx->buf, rx->len);
            if (at == 0u) {
                return false;
            }
            rx->stats.garbage_bytes += (uint32_t)at;
            drop(rx, at);
            continue;
        }
        if (crc16_modbus(rx->buf, (size_t)need) != 0u) { /* residue of data+CRC is 0 */
            rx->stats.crc_errors++;
            rx->stats.garbage_bytes++;
            drop(rx, 1u);
            continue;
        }
        out->cmd = rx->buf[1];
        out->len = (uint16_t)need;
        memcpy(out->bytes, rx->buf, (size_t)need);
        drop(rx, (size_t)need);
        rx->stats.frames++;
        return true;
    }
    return false;
}

size_t tb_rx_pending(const tb_rx_t *rx)
{
    return rx->len;
}

/* ---- parsers ----------------------------------------------------------------------------- */

/* Payload between the command byte (or the PL byte) and the CRC. */
static const uint8_t *payload(const tb_frame_t *f, size_t start, size_t *n)
{
    *n = (size_t)f->len - 2u - start;
    return f->bytes + start;
}

bool tb_parse_nack(const tb_frame_t *f, tb_nack_t *n)
{
    if (f->len == 6u && f->cmd == TB_CMD_NACK) {
        n->cmd = f->bytes[2];
        n->err = f->bytes[3];
        return true;
    }
    if (f->len == 5u && is_modbus_exception(f->cmd)) {
        n->cmd = (uint8_t)(f->cmd & 0x7Fu);
        n->err = (uint16_t)(TB_NACK_MODBUS_EXCEPTION | f->bytes[2]);
        return true;
    }
    return false;
}

/* Common prologue: the frame must answer `cmd`, else it is a NACK for it or unexpected. */
static int expect_cmd(const tb_frame_t *f, uint8_t cmd)
{
    if (f->cmd == cmd) {
        return TB_OK;
    }
    tb_nack_t n;
    if (tb_parse_nack(f, &n) && n.cmd == cmd) {
        return TB_ERR_NACK;
    }
    return TB_ERR_UNEXPECTED;
}

int tb_parse_ack(const tb_frame_t *f, uint8_t cmd)
{
    if (f->cmd == TB_CMD_ACK && f->len == 5u) {
        return f->bytes[2] == cmd ? TB_OK : TB_ERR_UNEXPECTED;
    }
    tb_nack_t n;
    if (tb_parse_nack(f, &n)) {
        return n.cmd == cmd ? TB_ERR_NACK : TB_ERR_UNEXPECTED;
    }
    return TB_ERR_UNEXPECTED;
}

/* The replies that carry `count` 16-bit values after a payload-length byte (0x03, 0x07, 0x1B,
 * 0x1C, 0x1D): answer to cmd, 1 <= count <= max, PL (masked by pl_mask) = 2 x count, nothing
 * else in the frame; with pl_mask 0x3F a set bit 7 (a multi-packet reply: continuation format
 * undocumented) is TB_ERR_UNSUPPORTED. TB_ERR_NOSPACE if count > cap. Values are big-endian
 * for the Modbus read, little-endian for the proprietary commands. */
static int parse_words(const tb_frame_t *f, uint8_t cmd, unsigned count, unsigned max, unsigned cap, uint8_t pl_mask,
                       uint16_t *out)
{
    int rc = expect_cmd(f, cmd);
    if (rc != TB_OK) {
        return rc;
    }
    uint8_t pl = f->bytes[2];
    if ((pl & (uint8_t)~pl_mask & 0x80u) != 0u) {
        return TB_ERR_UNSUPPORTED;
    }
    if (count == 0u || count > max || (pl & pl_mask) != 2u * count || f->len != 5u + 2u * count) {
        return TB_ERR_FORMAT;
    }
    if (count > cap) {
        return TB_ERR_NOSPACE;
    }
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *p = f->bytes + 3 + 2u * i;
        out[i] = cmd == TB_CMD_MB_READ ? be16(p) : le16(p);
    }
    return TB_OK;
}

int tb_parse_read(const tb_frame_t *f, unsigned expect, uint16_t *regs)
{
    return parse_words(f, TB_CMD_MB_READ, expect, TB_READ_MAX_REGS, expect, 0xFFu, regs);
}

/* A fixed-size reply (its length from k_reply_len) to cmd, which must lie in first..last
 * (TB_ERR_ARG otherwise). */
static int fixed_reply(const tb_frame_t *f, uint8_t cmd, uint8_t first, uint8_t last)
{
    if (cmd < first || cmd > last) {
        return TB_ERR_ARG;
    }
    int rc = expect_cmd(f, cmd);
    if (rc == TB_OK && f->len != k_reply_len[cmd]) {
        rc = TB_ERR_FORMAT;
    }
    return rc;
}

int tb_parse_write(const tb_frame_t *f, uint16_t addr, unsigned count)
{
    int rc = fixed_reply(f, TB_CMD_MB_WRITE, TB_CMD_MB_WRITE, TB_CMD_MB_WRITE);
    if (rc != TB_OK) {
        return rc;
    }
    if (be16(f->bytes + 2) != addr || be16(f->bytes + 4) != count) {
        return TB_ERR_UNEXPECTED;
    }
    return TB_OK;
}

int tb_parse_settings_values(const tb_frame_t *f, unsigned expect, uint16_t *vals)
{
    return parse_words(f, TB_CMD_SETTINGS, expect, TB_SETTINGS_QUERY_MAX, expect, 0xFFu, vals);
}

int tb_parse_events(const tb_frame_t *f, uint8_t cmd, uint32_t now_ms, bms_events_t *out)
{
    if (cmd != TB_CMD_EVENTS_NEWEST && cmd != TB_CMD_EVENTS_ALL) {
        return TB_ERR_ARG;
    }
    int rc = expect_cmd(f, cmd);
    if (rc != TB_OK) {
        return rc;
    }
    size_t n;
    const uint8_t *p = payload(f, 3u, &n);
    if (n != f->bytes[2] || n < 4u || (n - 4u) % 4u != 0u || (n - 4u) / 4u > BMS_EVENT_SLOTS) {
        return TB_ERR_FORMAT;
    }
    out->bms_time_s = le32(p);
    out->count = (uint8_t)((n - 4u) / 4u);
    for (unsigned i = 0; i < out->count; i++) {
        const uint8_t *r = p + 4u + 4u * i;
        out->ev[i].timestamp_s = (uint32_t)r[0] | ((uint32_t)r[1] << 8) | ((uint32_t)r[2] << 16);
        out->ev[i].id = r[3];
    }
    out->valid = true;
    out->t_ms = now_ms;
    return TB_OK;
}

int tb_parse_version(const tb_frame_t *f, uint8_t cmd, tb_version_reply_t *out)
{
    if (cmd != TB_CMD_VERSION && cmd != TB_CMD_VERSION_EXT) {
        return TB_ERR_ARG;
    }
    int rc = expect_cmd(f, cmd);
    if (rc != TB_OK) {
        return rc;
    }
    unsigned want = cmd == TB_CMD_VERSION ? 5u : 7u;
    if (f->bytes[2] != want || f->len != 5u + want) {
        return TB_ERR_FORMAT;
    }
    const uint8_t *p = f->bytes + 3;
    out->hw_version = p[0];
    out->hw_changes = p[1];
    out->fw_public = p[2];
    out->fw_internal = le16(p + 3);
    out->extended = cmd == TB_CMD_VERSION_EXT;
    out->bootloader = out->extended ? p[5] : 0u;
    out->register_map = out->extended ? p[6] : 0u;
    return TB_OK;
}

int tb_parse_float(const tb_frame_t *f, uint8_t cmd, float *out)
{
    int rc = fixed_reply(f, cmd, TB_CMD_PACK_VOLTAGE, TB_CMD_PACK_CURRENT);
    return rc != TB_OK ? rc : le_float(f->bytes + 2, out);
}

int tb_parse_u16(const tb_frame_t *f, uint8_t cmd, uint16_t *out)
{
    int rc = fixed_reply(f, cmd, TB_CMD_MAX_CELL, TB_CMD_STATUS);
    if (rc == TB_OK) {
        *out = le16(f->bytes + 2);
    }
    return rc;
}

int tb_parse_u32(const tb_frame_t *f, uint8_t cmd, uint32_t *out)
{
    int rc = fixed_reply(f, cmd, TB_CMD_LIFETIME, TB_CMD_SOC);
    if (rc == TB_OK) {
        *out = le32(f->bytes + 2);
    }
    return rc;
}

int tb_parse_temps(const tb_frame_t *f, int16_t out[3])
{
    uint16_t raw[3];
    int rc = parse_words(f, TB_CMD_TEMPS, 3u, 3u, 3u, 0xFFu, raw);
    if (rc == TB_OK) {
        for (unsigned i = 0; i < 3u; i++) {
            out[i] = (int16_t)raw[i];
        }
    }
    return rc;
}

int tb_parse_cells(const tb_frame_t *f, uint16_t *out, unsigned cap, unsigned *n)
{
    /* The count is the PL's: an odd or zero PL fails parse_words' "PL = 2 x count" check. */
    unsigned count = f->bytes[2] / 2u;
    int rc = parse_words(f, TB_CMD_CELLS, count, BMS_MAX_CELLS, cap, 0xFFu, out);
    if (rc == TB_OK) {
        *n = count;
    }
    return rc;
}

int tb_parse_read_block(const tb_frame_t *f, unsigned expect, uint16_t *regs)
{
    return parse_words(f, TB_CMD_READ_BLOCK, expect, TB_READ_BLOCK_MAX, expect, 0x3Fu, regs);
}

int tb_parse_read_indiv(const tb_frame_t *f, const uint16_t *addrs, unsigned n, uint16_t *vals)
{
    int rc = expect_cmd(f, TB_CMD_READ_INDIV);
    if (rc != TB_OK) {
        return rc;
    }
    uint8_t pl = f->bytes[2];
    if ((pl & 0x80u) != 0u) {
        return TB_ERR_UNSUPPORTED;
    }
    if (n == 0u || n > TB_INDIV_MAX || (pl & 0x3Fu) != 4u * n || f->len != 5u + 4u * n) {
        return TB_ERR_FORMAT;
    }
    for (unsigned i = 0; i < n; i++) {
        if (le16(f->bytes + 3 + 4u * i) != addrs[i]) {
            return TB_ERR_FORMAT;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        vals[i] = le16(f->bytes + 5 + 4u * i);
    }
    return TB_OK;
}

int tb_parse_speed(const tb_frame_t *f, float *speed_kmh, uint32_t *distance_km, uint32_t *time_s)
{
    int rc = fixed_reply(f, TB_CMD_SPEED, TB_CMD_SPEED, TB_CMD_SPEED);
    if (rc != TB_OK) {
        return rc;
    }
    float v;
    if (le_float(f->bytes + 2, &v) != TB_OK) {
        return TB_ERR_FORMAT;
    }
    *speed_kmh = v;
    *distance_km = le32(f->bytes + 6);
    *time_s = le32(f->bytes + 10);
    return TB_OK;
}
