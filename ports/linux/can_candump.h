/* can_candump: reads and writes CAN frames as text lines in the formats of can-utils' candump.
 * Pure functions (no I/O): the log: back-end writes with them, victron-can-decode reads with
 * them, tests/fuzz/fuzz_candump.c checks them.
 *
 * Accepted lines (whitespace = spaces or tabs; a trailing CR/LF is ignored):
 *   candump -L        (1700000000.123456) can0 351#45024C044C040000
 *   bare frame        351#45024C044C040000          (cansend syntax; iface "")
 *   candump default   can0  351   [8]  45 02 4C 04 4C 04 00 00
 *   candump -ta       (1700000000.123456)  can0  351   [8]  45 02 ...
 * Frame syntax: 3 hex digits = 11-bit id (<= 7FF); 8 hex digits = 29-bit id (<= 1FFFFFFF), or an
 * error frame when the CAN_ERR_FLAG bit 0x20000000 is set (as candump prints them). Data: up to 8
 * hex bytes, '.' separators allowed in the ID#DATA form. Remote frames: ID#R or ID#R<dlc>, and
 * "remote request" in the default form. CAN FD (ID##...) is refused. Blank lines are skipped.
 *
 * Trust model: lines come from users' files and may be anything, including NUL bytes. The parser
 * reads only line[0..len-1], writes *out only for a fully valid line, and explains refusals.
 */
#ifndef TB_CAN_CANDUMP_H
#define TB_CAN_CANDUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/can_frame.h"

#define CANDUMP_IFACE_MAX 15u   /* IFNAMSIZ - 1 */
#define CANDUMP_LINE_MAX 128u   /* formatter output never exceeds this (with NUL) */
#define CANDUMP_ERR_FLAG 0x20000000u

typedef struct {
    bool has_time;
    uint64_t sec;
    uint32_t usec;  /* 0..999999 */
    char iface[CANDUMP_IFACE_MAX + 1u];
    can_frame_t frame;
} candump_rec_t;

/* Returns 1 (record parsed into *out), 0 (blank line: nothing to do), or TB_ERR_FORMAT with *why
 * (if not NULL) pointing to a static explanation. */
int candump_parse_line(const char *line, size_t len, candump_rec_t *out, const char **why);

/* Formats rec as a candump -L line "(%010llu.%06u) IFACE ID#DATA" (no newline; iface "can0" when
 * empty). Returns the length (NUL-terminated), TB_ERR_NOSPACE or TB_ERR_ARG (invalid frame or
 * usec > 999999 or iface with a space). */
int candump_format_line(char *buf, size_t cap, const candump_rec_t *rec);

#endif
