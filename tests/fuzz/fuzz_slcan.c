/* libFuzzer harness for the serial-line CAN receive path (ports/linux/can_slcan): the byte-wise
 * line assembler and the line parser, fed with whatever a USB adapter or a pty might deliver.
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - the assembler never holds more than SLCAN_LINE_MAX bytes and never reports a frame that is
 *     not valid (id within its range, DLC <= 8, RTR frames without data);
 *   - its counters only grow, and "frames" equals the number of frames it returned;
 *   - every frame it returns formats back to a line that parses to the same frame;
 *   - slcan_parse_line on the whole input (and on each prefix up to 40 bytes) returns a defined
 *     code and writes its output only for a frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tb_err.h"
#include "ports/linux/can_slcan.h"

#define CHECK(c)                                                                                        \
    do {                                                                                                \
        if (!(c)) {                                                                                     \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)

static void check_frame(const can_frame_t *f)
{
    CHECK(can_frame_valid(f));
    CHECK((f->flags & CAN_FLAG_ERR) == 0u);
    if (f->flags & CAN_FLAG_RTR) {
        for (unsigned i = 0; i < CAN_FRAME_MAX_DLC; i++) {
            CHECK(f->data[i] == 0u);
        }
    }
    char line[SLCAN_LINE_MAX + 2u];
    int n = slcan_format(f, line, sizeof line);
    CHECK(n >= 6 && (size_t)n <= SLCAN_LINE_MAX - 4u + 1u && line[n - 1] == '\r');
    can_frame_t g;
    CHECK(slcan_parse_line(line, (size_t)n - 1u, &g) == SLCAN_LINE_FRAME);
    CHECK(g.id == f->id && g.dlc == f->dlc && g.flags == f->flags && memcmp(g.data, f->data, 8) == 0);
}

static void parse_whole(const char *s, size_t n)
{
    can_frame_t f;
    memset(&f, 0x5A, sizeof f);
    int rc = slcan_parse_line(s, n, &f);
    CHECK(rc == SLCAN_LINE_FRAME || rc == SLCAN_LINE_ACK || rc == SLCAN_LINE_OTHER || rc == TB_ERR_FORMAT);
    if (rc == SLCAN_LINE_FRAME) {
        check_frame(&f);
    } else {
        const uint8_t *b = (const uint8_t *)&f;
        for (size_t i = 0; i < sizeof f; i++) {
            CHECK(b[i] == 0x5Au);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slcan_rx_t rx;
    slcan_rx_init(&rx);
    uint32_t frames = 0;
    slcan_counters_t prev = rx.n;
    for (size_t i = 0; i < size; i++) {
        can_frame_t f;
        int got = slcan_rx_byte(&rx, data[i], &f);
        CHECK(got == 0 || got == 1);
        CHECK(rx.len <= SLCAN_LINE_MAX);
        if (got) {
            frames++;
            check_frame(&f);
        }
        CHECK(rx.n.frames >= prev.frames && rx.n.acks >= prev.acks && rx.n.others >= prev.others &&
              rx.n.bad >= prev.bad && rx.n.overlong >= prev.overlong && rx.n.bells >= prev.bells);
        prev = rx.n;
    }
    CHECK(rx.n.frames == frames);
    parse_whole((const char *)data, size);
    for (size_t n = 0; n <= size && n <= 40u; n++) {
        parse_whole((const char *)data, n);
    }
    return 0;
}
