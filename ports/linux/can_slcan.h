/* can_slcan: the serial-line CAN (Lawicel "SLCAN") ASCII protocol used by CANable-style USB
 * adapters: line parser, stream assembler and frame formatter. Pure functions (no I/O); the
 * slcan: back-end of can_port uses them, the fuzzer (tests/fuzz/fuzz_slcan.c) checks them.
 *
 * Lines end with CR ('\r'; '\n' is accepted too). Frames:
 *   tIIILDD..   11-bit data frame: 3 hex id (<= 7FF), 1 digit DLC 0-8, 2*DLC hex data
 *   TIIIIIIIILDD.. 29-bit data frame: 8 hex id (<= 1FFFFFFF)
 *   rIIIL / RIIIIIIIIL  remote frames (no data)
 * each optionally followed by a 4-hex-digit timestamp (adapters with timestamps on, "Z1").
 * Other lines: "" (the adapter's OK reply to a command), "z"/"Z" (transmit acknowledged), and
 * anything else starting with a letter (version replies, our own commands echoed by a peer) are
 * ignored but counted. BEL (0x07) is the adapter's error reply. Hex digits: upper or lower case.
 *
 * Trust model: bytes come from a USB device or a pty and may be anything. The assembler never
 * keeps more than SLCAN_LINE_MAX bytes; longer lines are dropped whole and counted; a frame is
 * produced only from a line that is valid in every character and length.
 */
#ifndef TB_CAN_SLCAN_H
#define TB_CAN_SLCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/can_frame.h"

#define SLCAN_LINE_MAX 30u /* "T" + 8 id + 1 dlc + 16 data + 4 timestamp */

enum {
    SLCAN_LINE_FRAME = 1, /* *out filled */
    SLCAN_LINE_ACK = 2,   /* "", "z", "Z" */
    SLCAN_LINE_OTHER = 3  /* any other well-formed non-frame line: ignored */
};

/* Parses one line (without its terminator). Returns SLCAN_LINE_* or TB_ERR_FORMAT (a frame line
 * that is malformed, or a line with non-printable bytes). *out is written only for FRAME. */
int slcan_parse_line(const char *line, size_t len, can_frame_t *out);

/* Formats f as an slcan transmit line including the trailing '\r'. Returns the length (without a
 * NUL; a NUL is added when room is left), TB_ERR_NOSPACE if cap is too small, TB_ERR_ARG if f is
 * not a valid data/remote frame (error frames cannot be sent). cap >= SLCAN_LINE_MAX + 2 always
 * suffices. */
int slcan_format(const can_frame_t *f, char *buf, size_t cap);

typedef struct {
    uint32_t frames;   /* frame lines delivered */
    uint32_t acks;     /* empty / z / Z lines */
    uint32_t others;   /* ignored well-formed lines */
    uint32_t bad;      /* malformed lines (incl. a partial line cut by BEL) */
    uint32_t overlong; /* lines longer than SLCAN_LINE_MAX, dropped */
    uint32_t bells;    /* BEL error replies */
} slcan_counters_t;

typedef struct {
    char line[SLCAN_LINE_MAX];
    size_t len;
    bool overflow; /* dropping bytes until the next terminator */
    slcan_counters_t n;
} slcan_rx_t;

void slcan_rx_init(slcan_rx_t *rx);
/* Feeds one byte. Returns 1 when it completed a frame line (*out filled), else 0. */
int slcan_rx_byte(slcan_rx_t *rx, uint8_t b, can_frame_t *out);

#endif
