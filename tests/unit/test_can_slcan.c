/* ports/linux/can_slcan: the serial-line CAN line parser, formatter and stream assembler. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/tb_err.h"
#include "ports/linux/can_slcan.h"

/* Field by field: struct padding is indeterminate. */
static void assert_frame_eq(const can_frame_t *a, const can_frame_t *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->dlc, b->dlc);
    assert_int_equal(a->flags, b->flags);
    assert_memory_equal(a->data, b->data, CAN_FRAME_MAX_DLC);
}

static int parse(const char *s, can_frame_t *f)
{
    return slcan_parse_line(s, strlen(s), f);
}

static void frames(void **state)
{
    (void)state;
    can_frame_t f;
    assert_int_equal(parse("t351845024C044C040000", &f), SLCAN_LINE_FRAME);
    assert_int_equal(f.id, 0x351);
    assert_int_equal(f.dlc, 8);
    assert_int_equal(f.flags, 0);
    static const uint8_t d[8] = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0x00, 0x00};
    assert_memory_equal(f.data, d, 8);
    assert_int_equal(parse("t7ff0", &f), SLCAN_LINE_FRAME); /* highest 11-bit id, DLC 0 */
    assert_int_equal(f.id, 0x7FF);
    assert_int_equal(f.dlc, 0);
    assert_int_equal(parse("t3052abcd", &f), SLCAN_LINE_FRAME); /* lower-case hex */
    assert_int_equal(f.data[0], 0xAB);
    assert_int_equal(parse("t3052ABCD1234", &f), SLCAN_LINE_FRAME); /* with timestamp */
    assert_int_equal(f.dlc, 2);
    assert_int_equal(parse("T1FFFFFFF1AA", &f), SLCAN_LINE_FRAME);
    assert_int_equal(f.id, 0x1FFFFFFF);
    assert_int_equal(f.flags, CAN_FLAG_EXT);
    assert_int_equal(parse("r3058", &f), SLCAN_LINE_FRAME);
    assert_int_equal(f.flags, CAN_FLAG_RTR);
    assert_int_equal(f.dlc, 8);
    assert_int_equal(parse("R000001234", &f), SLCAN_LINE_FRAME);
    assert_int_equal(f.flags, CAN_FLAG_RTR | CAN_FLAG_EXT);
    assert_int_equal(f.id, 0x123);
}

static void non_frames_and_errors(void **state)
{
    (void)state;
    can_frame_t f;
    memset(&f, 0x77, sizeof f);
    can_frame_t before = f;
    assert_int_equal(parse("", &f), SLCAN_LINE_ACK);
    assert_int_equal(parse("z", &f), SLCAN_LINE_ACK);
    assert_int_equal(parse("Z", &f), SLCAN_LINE_ACK);
    assert_int_equal(parse("V1013", &f), SLCAN_LINE_OTHER);
    assert_int_equal(parse("C", &f), SLCAN_LINE_OTHER);
    assert_int_equal(parse("S6", &f), SLCAN_LINE_OTHER);
    assert_int_equal(parse("O", &f), SLCAN_LINE_OTHER);
    static const char *const bad[] = {
        "t", "t35", "t351", "t8000", "t3519", "t3512AA", "t3512AABBC", "t3512AAGG", "t35x0", "T200000000",
        "T1FFFFFF", "t3512AABB12", "t3512AABB12345", "r3059", "r30581", "t3510X", "t-510",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &f) != TB_ERR_FORMAT) {
            fail_msg("\"%s\" should be refused", bad[i]);
        }
    }
    assert_int_equal(slcan_parse_line("t3511\x00", 6, &f), TB_ERR_FORMAT);
    assert_int_equal(slcan_parse_line("V\x80", 2, &f), TB_ERR_FORMAT);
    assert_memory_equal(&f, &before, sizeof f); /* untouched by refusals */
}

static void format(void **state)
{
    (void)state;
    char buf[64];
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0x00, 0x00}};
    assert_int_equal(slcan_format(&f, buf, sizeof buf), 22);
    assert_string_equal(buf, "t351845024C044C040000\r");
    can_frame_t e = {.id = 0x1ABCDEF0, .dlc = 1, .flags = CAN_FLAG_EXT, .data = {0x5A}};
    assert_int_equal(slcan_format(&e, buf, sizeof buf), 13);
    assert_string_equal(buf, "T1ABCDEF015A\r");
    can_frame_t r = {.id = 0x305, .dlc = 8, .flags = CAN_FLAG_RTR, .data = {1, 2}};
    assert_int_equal(slcan_format(&r, buf, sizeof buf), 6);
    assert_string_equal(buf, "r3058\r");
    can_frame_t err = {.id = 0x40, .dlc = 8, .flags = CAN_FLAG_ERR, .data = {0}};
    assert_int_equal(slcan_format(&err, buf, sizeof buf), TB_ERR_ARG);
    can_frame_t big = {.id = 0x800, .dlc = 0, .flags = 0, .data = {0}};
    assert_int_equal(slcan_format(&big, buf, sizeof buf), TB_ERR_ARG);
    f.dlc = 9;
    assert_int_equal(slcan_format(&f, buf, sizeof buf), TB_ERR_ARG);
    f.dlc = 8;
    assert_int_equal(slcan_format(&f, buf, 21), TB_ERR_NOSPACE);
    assert_int_equal(slcan_format(&f, buf, 22), 22); /* exactly fits, no NUL */
    /* round trip for every DLC and both id kinds */
    for (uint8_t dlc = 0; dlc <= 8; dlc++) {
        for (int ext = 0; ext < 2; ext++) {
            can_frame_t a = {.id = ext ? 0x1234567u : 0x7A5u, .dlc = dlc, .flags = (uint8_t)(ext ? CAN_FLAG_EXT : 0),
                             .data = {0}};
            for (uint8_t i = 0; i < dlc; i++) {
                a.data[i] = (uint8_t)(0x11u * i + 3u);
            }
            int n = slcan_format(&a, buf, sizeof buf);
            assert_true(n > 0 && n <= (int)SLCAN_LINE_MAX + 1);
            can_frame_t b;
            assert_int_equal(slcan_parse_line(buf, (size_t)n - 1u, &b), SLCAN_LINE_FRAME);
            assert_frame_eq(&a, &b);
        }
    }
}

static int feed(slcan_rx_t *rx, const char *s, size_t n, can_frame_t *out, size_t max)
{
    int got = 0;
    for (size_t i = 0; i < n; i++) {
        can_frame_t f;
        if (slcan_rx_byte(rx, (uint8_t)s[i], &f)) {
            if ((size_t)got < max) {
                out[got] = f;
            }
            got++;
        }
    }
    return got;
}

static void stream(void **state)
{
    (void)state;
    slcan_rx_t rx;
    slcan_rx_init(&rx);
    can_frame_t out[8];
    const char in[] = "\r\r\rt30580000000000000000\rz\r\at3071AB\r\nV1013\rt35X\rt3510\n";
    int n = feed(&rx, in, sizeof in - 1u, out, 8);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, 0x305);
    assert_int_equal(out[1].id, 0x307);
    assert_int_equal(out[1].data[0], 0xAB);
    assert_int_equal(out[2].id, 0x351);
    assert_int_equal(rx.n.frames, 3);
    assert_int_equal(rx.n.acks, 4); /* three empty lines and "z"; the LF of CR LF is not counted */
    assert_int_equal(rx.n.bells, 1);
    assert_int_equal(rx.n.others, 1);
    assert_int_equal(rx.n.bad, 1);
    /* an overlong line is dropped whole, the next one parses */
    char longline[200];
    memset(longline, '1', sizeof longline);
    longline[0] = 't';
    assert_int_equal(feed(&rx, longline, sizeof longline, out, 8), 0);
    assert_int_equal(feed(&rx, "\rt1231AA\r", 9, out, 8), 1);
    assert_int_equal(rx.n.overlong, 1);
    assert_int_equal(out[0].id, 0x123);
    /* a BEL in the middle of a line discards the partial line */
    assert_int_equal(feed(&rx, "t12\a31AA\r", 9, out, 8), 0);
    assert_int_equal(rx.n.bells, 2);
    assert_int_equal(rx.n.bad, 2);    /* the cut "t12" */
    assert_int_equal(rx.n.others, 2); /* the remainder "31AA" is not a frame line */
    assert_int_equal(rx.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames),
        cmocka_unit_test(non_frames_and_errors),
        cmocka_unit_test(format),
        cmocka_unit_test(stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
