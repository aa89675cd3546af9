/* tb_proto: TinyBMS UART frames — encoders, a streaming receive state machine and frame parsers.
 *
 * Wire facts (docs: ../shared/reference/tinybms-protocol.md, vendor "Communication Protocols"
 * Rev D): every frame starts with 0xAA (the Modbus slave address of the TinyBMS), then a command
 * byte, a payload and CRC-16/MODBUS low byte first.
 *   - Modbus subset: 0x03 read (1..127 registers) and 0x10 write (1..100 registers, 300..399 only),
 *     register data big-endian; 32-bit values and floats span two registers, LOW word first.
 *   - Proprietary commands: little-endian data; ACK `AA 01 CMD`, NACK `AA 00 CMD ERR`
 *     (ERR 0x00 command error, 0x01 CRC error). Errors are NOT Modbus exceptions; the receiver
 *     nevertheless recognises Modbus exception replies (`AA 80|F CODE`) that some firmware or
 *     bridges may produce, and reports them like a NACK.
 *
 * Receive state machine (tb_rx_t): bytes go in with tb_rx_push() in any split, frames come out
 * with tb_rx_next(). It hunts for 0xAA, derives the frame length from the command byte (and the
 * length byte where there is one), checks the CRC and on any failure drops one byte and rescans,
 * so it resynchronises after garbage, broadcast noise or a corrupted frame without losing a valid
 * frame that follows. A partial frame older than `gap_ms` is abandoned (counted as truncated).
 * Memory: fixed, inside the struct (~550 bytes). Not thread-safe; one instance per UART.
 *
 * Encoders write into (buf, cap) and return the frame length, or TB_ERR_NOSPACE / TB_ERR_RANGE /
 * TB_ERR_ARG without writing a partial frame. Parsers take a frame produced by tb_rx_next() (CRC
 * already checked), verify its layout completely before writing any output, and return TB_OK,
 * TB_ERR_FORMAT (layout), TB_ERR_NACK (the frame is a NACK/exception for the expected command)
 * or TB_ERR_UNEXPECTED (another command).
 */
#ifndef TB_PROTO_H
#define TB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bms.h"
#include "core/tb_err.h"

#define TB_ADDR 0xAAu
#define TB_FRAME_MAX 260u        /* 3 header bytes + 255 payload + 2 CRC */
#define TB_READ_MAX_REGS 127u    /* 0x03 */
#define TB_WRITE_MAX_REGS 100u   /* 0x10 */
#define TB_WRITE_FIRST 300u      /* writable window 300..399 */
#define TB_WRITE_LAST 399u
#define TB_SETTINGS_QUERY_MAX 100u /* 0x1D */
#define TB_READ_BLOCK_MAX 31u    /* 0x07, keep the reply in one packet */
#define TB_INDIV_MAX 15u         /* 0x09 / 0x0D, one packet */

typedef enum {
    TB_CMD_NACK = 0x00,
    TB_CMD_ACK = 0x01,
    TB_CMD_RESET = 0x02,          /* option: TB_RESET_* */
    TB_CMD_MB_READ = 0x03,
    TB_CMD_READ_BLOCK = 0x07,
    TB_CMD_READ_INDIV = 0x09,
    TB_CMD_WRITE_BLOCK = 0x0B,
    TB_CMD_WRITE_INDIV = 0x0D,
    TB_CMD_MB_WRITE = 0x10,
    TB_CMD_EVENTS_NEWEST = 0x11,
    TB_CMD_EVENTS_ALL = 0x12,
    TB_CMD_PACK_VOLTAGE = 0x14,
    TB_CMD_PACK_CURRENT = 0x15,
    TB_CMD_MAX_CELL = 0x16,
    TB_CMD_MIN_CELL = 0x17,
    TB_CMD_STATUS = 0x18,
    TB_CMD_LIFETIME = 0x19,
    TB_CMD_SOC = 0x1A,
    TB_CMD_TEMPS = 0x1B,
    TB_CMD_CELLS = 0x1C,
    TB_CMD_SETTINGS = 0x1D,       /* option: TB_SETTINGS_* */
    TB_CMD_VERSION = 0x1E,
    TB_CMD_VERSION_EXT = 0x1F,
    TB_CMD_SPEED = 0x20
} tb_cmd_t;

enum { TB_RESET_CLEAR_EVENTS = 0x01, TB_RESET_CLEAR_STATS = 0x02, TB_RESET_BMS = 0x05 };
enum { TB_SETTINGS_MIN = 0x01, TB_SETTINGS_MAX = 0x02, TB_SETTINGS_DEFAULT = 0x03, TB_SETTINGS_CURRENT = 0x04 };
enum { TB_NACK_COMMAND = 0x00, TB_NACK_CRC = 0x01 };
/* Flag set in tb_nack_t.err for a Modbus exception reply (err holds the exception code). */
#define TB_NACK_MODBUS_EXCEPTION 0x100u

/* ---- encoders ---------------------------------------------------------------------------- */

/* 0x03: read `count` (1..127) registers from `addr`; addr+count must stay below 65536. 8 bytes. */
int tb_enc_read(uint8_t *buf, size_t cap, uint16_t addr, unsigned count);
/* 0x10: write `count` (1..100) registers, all inside 300..399. 9 + 2*count bytes. */
int tb_enc_write(uint8_t *buf, size_t cap, uint16_t addr, const uint16_t *vals, unsigned count);
/* Fixed 4-byte requests: 0x11, 0x12, 0x14..0x1C, 0x1E, 0x1F, 0x20. TB_ERR_ARG for other codes. */
int tb_enc_simple(uint8_t *buf, size_t cap, uint8_t cmd);
/* 0x02 with option TB_RESET_*. 5 bytes. */
int tb_enc_reset(uint8_t *buf, size_t cap, uint8_t option);
/* 0x1D with option TB_SETTINGS_* for `count` (1..100) settings registers from 300. 7 bytes. */
int tb_enc_settings_query(uint8_t *buf, size_t cap, uint8_t option, unsigned count);
/* 0x07: proprietary block read, `count` 1..31 registers (little-endian address). 7 bytes. */
int tb_enc_read_block(uint8_t *buf, size_t cap, uint16_t addr, unsigned count);
/* 0x09: proprietary individual read of n (1..15) addresses. 5 + 2n bytes. */
int tb_enc_read_indiv(uint8_t *buf, size_t cap, const uint16_t *addrs, unsigned n);
/* 0x0D: proprietary individual write of n (1..15) address/value pairs, addresses in 300..399. */
int tb_enc_write_indiv(uint8_t *buf, size_t cap, const uint16_t *addrs, const uint16_t *vals, unsigned n);

/* ---- receive state machine -------------------------------------------------------------- */

typedef struct {
    uint32_t frames;        /* valid frames delivered */
    uint32_t bytes;         /* bytes pushed */
    uint32_t garbage_bytes; /* bytes dropped (hunting for a frame, bad CRC, abandoned partial frames);
                             * frames delivered + garbage + pending always equals bytes */
    uint32_t crc_errors;    /* complete frames whose CRC did not match */
    uint32_t bad_length;    /* header with an impossible length byte */
    uint32_t unknown_cmd;   /* 0xAA followed by a byte that starts no known reply */
    uint32_t truncated;     /* partial frames abandoned after the inter-byte gap */
    uint32_t overflow;      /* bytes refused because the buffer was full (caller bug) */
} tb_rx_stats_t;

typedef struct {
    uint8_t buf[2u * TB_FRAME_MAX];
    uint16_t len;
    bool have_time;
    uint32_t last_ms;
    uint32_t gap_ms;
    tb_rx_stats_t stats;
} tb_rx_t;

/* A complete frame with a valid CRC. bytes[0] == 0xAA, bytes[1] == cmd; len includes the CRC. */
typedef struct {
    uint8_t cmd;
    uint16_t len;
    uint8_t bytes[TB_FRAME_MAX];
} tb_frame_t;

/* gap_ms: a partial frame is abandoned when the next byte arrives more than gap_ms later
 * (0 disables the check). 50 ms suits USB-serial adapters, whose latency timers deliver a
 * frame in bursts up to ~16 ms apart. */
void tb_rx_init(tb_rx_t *rx, uint32_t gap_ms);
/* Discard buffered bytes (e.g. before sending a new request); they count as garbage, and as one
 * truncated frame if they held the start of a frame. */
void tb_rx_flush(tb_rx_t *rx);
/* Append up to n bytes; returns how many were taken (fewer only when the caller has not drained
 * frames with tb_rx_next(); the buffer always has room for a whole frame after draining). */
size_t tb_rx_push(tb_rx_t *rx, const uint8_t *data, size_t n, uint32_t now_ms);
/* Extract the next complete valid frame; false when none is complete yet. */
bool tb_rx_next(tb_rx_t *rx, uint32_t now_ms, tb_frame_t *out);
/* Bytes buffered towards a frame not yet complete. */
size_t tb_rx_pending(const tb_rx_t *rx);
/* Total frame length implied by the first bytes of a frame: > 0 length, 0 = need more bytes,
 * < 0 = these bytes cannot start a reply. Exposed for tests and the simulator-independent fuzzers. */
int tb_frame_length(const uint8_t *b, size_t n);

/* ---- parsers ----------------------------------------------------------------------------- */

typedef struct {
    uint8_t cmd;  /* the command that failed */
    uint16_t err; /* TB_NACK_COMMAND / TB_NACK_CRC, or TB_NACK_MODBUS_EXCEPTION | code */
} tb_nack_t;

/* True if the frame is a NACK (or Modbus exception) and fill *n. */
bool tb_parse_nack(const tb_frame_t *f, tb_nack_t *n);
/* ACK for command `cmd`: TB_OK, TB_ERR_NACK (NACK for cmd), TB_ERR_UNEXPECTED, TB_ERR_FORMAT. */
int tb_parse_ack(const tb_frame_t *f, uint8_t cmd);
/* 0x03 reply: `expect` registers (1..127) into regs (host order). */
int tb_parse_read(const tb_frame_t *f, unsigned expect, uint16_t *regs);
/* 0x10 echo: must repeat addr and count. */
int tb_parse_write(const tb_frame_t *f, uint16_t addr, unsigned count);
/* 0x1D reply: `expect` values, little-endian on the wire. */
int tb_parse_settings_values(const tb_frame_t *f, unsigned expect, uint16_t *vals);
/* 0x11 / 0x12 reply (cmd selects which is expected): BMS time + records (u24 time, u8 id).
 * At most BMS_EVENT_SLOTS records; out->valid/t_ms are set from now_ms. */
int tb_parse_events(const tb_frame_t *f, uint8_t cmd, uint32_t now_ms, bms_events_t *out);

typedef struct {
    uint8_t hw_version;
    uint8_t hw_changes;
    uint8_t fw_public;
    uint16_t fw_internal;
    bool extended;       /* 0x1F: the two fields below are present */
    uint8_t bootloader;
    uint8_t register_map;
} tb_version_reply_t;
/* 0x1E (PL 5) or 0x1F (PL 7) reply. */
int tb_parse_version(const tb_frame_t *f, uint8_t cmd, tb_version_reply_t *out);
/* 0x14 / 0x15: IEEE-754 float, little-endian. Non-finite values are TB_ERR_FORMAT. */
int tb_parse_float(const tb_frame_t *f, uint8_t cmd, float *out);
/* 0x16 / 0x17 / 0x18: u16. */
int tb_parse_u16(const tb_frame_t *f, uint8_t cmd, uint16_t *out);
/* 0x19 / 0x1A: u32. */
int tb_parse_u32(const tb_frame_t *f, uint8_t cmd, uint32_t *out);
/* 0x1B: internal, external 1, external 2 temperatures, raw 0.1 degC (INT16_MIN = absent). */
int tb_parse_temps(const tb_frame_t *f, int16_t out[3]);
/* 0x1C: cell voltages raw 0.1 mV; up to `cap` values, count in *n (PL/2, must be 1..16). */
int tb_parse_cells(const tb_frame_t *f, uint16_t *out, unsigned cap, unsigned *n);
/* 0x07 reply: `expect` registers, little-endian; multi-packet replies are TB_ERR_UNSUPPORTED. */
int tb_parse_read_block(const tb_frame_t *f, unsigned expect, uint16_t *regs);
/* 0x09 reply: address/value pairs; the addresses must echo `addrs` in order. */
int tb_parse_read_indiv(const tb_frame_t *f, const uint16_t *addrs, unsigned n, uint16_t *vals);
/* 0x20 reply (no PL byte on UART): speed km/h, distance left km, time left s. */
int tb_parse_speed(const tb_frame_t *f, float *speed_kmh, uint32_t *distance_km, uint32_t *time_s);

/* Little helpers shared by decoders (word order: low word at the lower register address). */
uint32_t tb_u32_from_regs(const uint16_t *regs);
float tb_float_from_regs(const uint16_t *regs);
void tb_regs_from_u32(uint32_t v, uint16_t *regs);
void tb_regs_from_float(float v, uint16_t *regs);

#endif
