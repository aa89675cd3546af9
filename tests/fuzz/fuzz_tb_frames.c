/* libFuzzer harness: the TinyBMS receive state machine and every frame parser.
 * Trust model: bytes from the UART are hostile. Invariants checked:
 *   - the receiver never delivers a frame with a bad CRC, a wrong header or an impossible length;
 *   - byte accounting holds (every pushed byte is delivered, dropped or still pending);
 *   - parsers only succeed on frames whose layout they fully checked, and bound their outputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc16.h"
#include "core/tb_proto.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void parse_all(const tb_frame_t *f)
{
    uint16_t regs[TB_READ_MAX_REGS];
    tb_nack_t nk;
    (void)tb_parse_nack(f, &nk);
    for (unsigned cmd = 0; cmd < 0x22; cmd++) {
        (void)tb_parse_ack(f, (uint8_t)cmd);
    }
    for (unsigned n = 1; n <= TB_READ_MAX_REGS; n++) {
        if (tb_parse_read(f, n, regs) == TB_OK) {
            CHECK(f->len == 5u + 2u * n);
        }
    }
    (void)tb_parse_write(f, 315, 2);
    for (unsigned n = 1; n <= TB_SETTINGS_QUERY_MAX; n++) {
        (void)tb_parse_settings_values(f, n, regs);
    }
    bms_events_t ev;
    if (tb_parse_events(f, TB_CMD_EVENTS_ALL, 0, &ev) == TB_OK || tb_parse_events(f, TB_CMD_EVENTS_NEWEST, 0, &ev) == TB_OK) {
        CHECK(ev.count <= BMS_EVENT_SLOTS);
    }
    tb_version_reply_t v;
    (void)tb_parse_version(f, TB_CMD_VERSION, &v);
    (void)tb_parse_version(f, TB_CMD_VERSION_EXT, &v);
    float fl;
    if (tb_parse_float(f, TB_CMD_PACK_VOLTAGE, &fl) == TB_OK) {
        CHECK(fl == fl); /* never NaN */
    }
    (void)tb_parse_float(f, TB_CMD_PACK_CURRENT, &fl);
    uint16_t u16;
    (void)tb_parse_u16(f, TB_CMD_STATUS, &u16);
    uint32_t u32;
    (void)tb_parse_u32(f, TB_CMD_SOC, &u32);
    int16_t t[3];
    (void)tb_parse_temps(f, t);
    unsigned n;
    if (tb_parse_cells(f, regs, 16, &n) == TB_OK) {
        CHECK(n >= 1 && n <= 16);
    }
    for (unsigned k = 1; k <= TB_READ_BLOCK_MAX; k++) {
        (void)tb_parse_read_block(f, k, regs);
    }
    uint16_t addrs[TB_INDIV_MAX];
    for (unsigned k = 0; k < TB_INDIV_MAX; k++) {
        addrs[k] = (uint16_t)(36 + k);
    }
    for (unsigned k = 1; k <= TB_INDIV_MAX; k++) {
        (void)tb_parse_read_indiv(f, addrs, k, regs);
    }
    uint32_t d, tl;
    (void)tb_parse_speed(f, &fl, &d, &tl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    /* first byte: chunk size for pushing (1..32), so splits are explored too */
    size_t chunk = (size_t)(data[0] % 32u) + 1u;
    data++;
    size--;
    tb_rx_t rx;
    tb_rx_init(&rx, 50);
    tb_frame_t f;
    size_t delivered = 0;
    uint32_t now = 0;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t k = tb_rx_push(&rx, data + off, n, now);
        CHECK(k > 0);
        off += k;
        now += 1;
        while (tb_rx_next(&rx, now, &f)) {
            CHECK(f.len >= 5 && f.len <= TB_FRAME_MAX);
            CHECK(f.bytes[0] == TB_ADDR && f.bytes[1] == f.cmd);
            CHECK(crc16_modbus(f.bytes, f.len) == 0);
            CHECK(tb_frame_length(f.bytes, f.len) == (int)f.len);
            delivered += f.len;
            parse_all(&f);
        }
    }
    CHECK(rx.stats.bytes == size);
    CHECK(delivered + rx.stats.garbage_bytes + tb_rx_pending(&rx) == size); /* every byte accounted for */
    /* a lone frame fed as its own input must be parsed exactly as it is */
    if (size >= 4 && size <= TB_FRAME_MAX) {
        memcpy(f.bytes, data, size);
        f.len = (uint16_t)size;
        f.cmd = data[1];
        if (data[0] == TB_ADDR && crc16_modbus(data, size) == 0 && tb_frame_length(data, size) == (int)size) {
            parse_all(&f);
        }
    }
    return 0;
}
