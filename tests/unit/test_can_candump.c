/* ports/linux/can_candump: candump line parser and -L formatter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/tb_err.h"
#include "ports/linux/can_candump.h"

/* Field by field: struct padding is indeterminate. */
static void assert_frame_eq(const can_frame_t *a, const can_frame_t *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->dlc, b->dlc);
    assert_int_equal(a->flags, b->flags);
    assert_memory_equal(a->data, b->data, CAN_FRAME_MAX_DLC);
}

static int parse(const char *s, candump_rec_t *r, const char **why)
{
    return candump_parse_line(s, strlen(s), r, why);
}

static void formats_accepted(void **state)
{
    (void)state;
    candump_rec_t r;
    const char *why = NULL;
    static const uint8_t d351[8] = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0x00, 0x00};

    assert_int_equal(parse("(1700000000.123456) can0 351#45024C044C040000\n", &r, &why), 1);
    assert_true(r.has_time);
    assert_int_equal(r.sec, 1700000000u);
    assert_int_equal(r.usec, 123456u);
    assert_string_equal(r.iface, "can0");
    assert_int_equal(r.frame.id, 0x351);
    assert_int_equal(r.frame.dlc, 8);
    assert_int_equal(r.frame.flags, 0);
    assert_memory_equal(r.frame.data, d351, 8);

    assert_int_equal(parse("351#45.02.4C.04.4C.04.00.00", &r, &why), 1); /* cansend syntax, no iface */
    assert_false(r.has_time);
    assert_string_equal(r.iface, "");
    assert_memory_equal(r.frame.data, d351, 8);

    assert_int_equal(parse("  can0  351   [8]  45 02 4C 04 4C 04 00 00\r\n", &r, &why), 1); /* plain candump */
    assert_memory_equal(r.frame.data, d351, 8);
    assert_int_equal(parse(" (1700000000.000001)  vcan0  351   [8]  45 02 4C 04 4C 04 00 00", &r, &why), 1);
    assert_int_equal(r.usec, 1u);
    assert_string_equal(r.iface, "vcan0");
    assert_int_equal(parse("(0.5) can0 305#", &r, &why), 1); /* short fraction, empty data */
    assert_int_equal(r.usec, 500000u);
    assert_int_equal(r.frame.dlc, 0);

    assert_int_equal(parse("can0 1ABCDEF0#11", &r, &why), 1);
    assert_int_equal(r.frame.flags, CAN_FLAG_EXT);
    assert_int_equal(r.frame.id, 0x1ABCDEF0);
    assert_int_equal(parse("can0 20000040#0000000000000000", &r, &why), 1); /* error frame: bus-off */
    assert_int_equal(r.frame.flags, CAN_FLAG_ERR);
    assert_int_equal(r.frame.id, 0x40);
    assert_int_equal(parse("  can0  20000004   [8]  00 08 00 00 00 00 00 00   ERRORFRAME", &r, &why), 1);
    assert_int_equal(r.frame.flags, CAN_FLAG_ERR);
    assert_int_equal(parse("can0 123#R", &r, &why), 1);
    assert_int_equal(r.frame.flags, CAN_FLAG_RTR);
    assert_int_equal(r.frame.dlc, 0);
    assert_int_equal(parse("can0 123#R8", &r, &why), 1);
    assert_int_equal(r.frame.dlc, 8);
    assert_int_equal(parse("  can0  123   [2]  remote request", &r, &why), 1);
    assert_int_equal(r.frame.flags, CAN_FLAG_RTR);
    assert_int_equal(r.frame.dlc, 2);
    assert_int_equal(parse("can0 3ff#aabb", &r, &why), 1); /* lower case */
    assert_int_equal(r.frame.data[0], 0xAA);

    assert_int_equal(parse("", &r, &why), 0);
    assert_int_equal(parse("  \t \r\n", &r, &why), 0);
}

static void lines_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "hello",
        "(1700000000.123456) can0",
        "(1700000000) can0 351#00",
        "(17x.1) can0 351#00",
        "(1.1234567890) can0 351#00",
        "(12345678901234567890.1) can0 351#00",
        "can0 800#00",
        "can0 35#00",
        "can0 3510#00",
        "can0 351#0",
        "can0 351#00112233445566778899",
        "can0 351#GG",
        "can0 351##0011",
        "can0 351#R9",
        "can0 351#R12",
        "can0 7FFFFFFF#00",
        "can0 60000001#00",
        "can0 20000040#R",
        "can0 351#00 extra",
        "averyveryverylongiface 351#00",
        "ca$n0 351#00",
        "can0 351 [9] 00",
        "can0 351 [2] 00",
        "can0 351 [2] 00 0G",
        "can0 351 [1] 00 11",
        "can0 351 (8) 00",
        "can0 351 [2] remote",
        "can0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        candump_rec_t r;
        memset(&r, 0x3C, sizeof r);
        candump_rec_t before = r;
        const char *why = NULL;
        if (parse(bad[i], &r, &why) != TB_ERR_FORMAT) {
            fail_msg("\"%s\" should be refused", bad[i]);
        }
        assert_non_null(why);
        assert_memory_equal(&r, &before, sizeof r);
    }
    candump_rec_t r;
    const char *why;
    assert_int_equal(candump_parse_line("can0 351#00\0", 12, &r, &why), TB_ERR_FORMAT);
    assert_int_equal(candump_parse_line("can0 351#\xff", 10, &r, &why), TB_ERR_FORMAT);
    assert_int_equal(candump_parse_line(NULL, 0, &r, &why), TB_ERR_FORMAT);
    assert_int_equal(parse("can0 351##0011", &r, &why), TB_ERR_FORMAT);
    assert_string_equal(why, "CAN FD frames are not supported");
}

static void format_and_roundtrip(void **state)
{
    (void)state;
    char buf[CANDUMP_LINE_MAX];
    candump_rec_t r = {.has_time = true, .sec = 1700000000u, .usec = 42u, .iface = "can0",
                       .frame = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0, 0}}};
    assert_int_equal(candump_format_line(buf, sizeof buf, &r), 45);
    assert_string_equal(buf, "(1700000000.000042) can0 351#45024C044C040000");
    r.sec = 5;
    r.iface[0] = '\0';
    r.frame = (can_frame_t){.id = 0x1ABCDEF0, .dlc = 0, .flags = CAN_FLAG_EXT, .data = {0}};
    assert_true(candump_format_line(buf, sizeof buf, &r) > 0);
    assert_string_equal(buf, "(0000000005.000042) can0 1ABCDEF0#");
    r.frame = (can_frame_t){.id = 0x40, .dlc = 8, .flags = CAN_FLAG_ERR, .data = {0}};
    assert_true(candump_format_line(buf, sizeof buf, &r) > 0);
    assert_string_equal(buf, "(0000000005.000042) can0 20000040#0000000000000000");
    r.frame = (can_frame_t){.id = 0x123, .dlc = 3, .flags = CAN_FLAG_RTR, .data = {0}};
    assert_true(candump_format_line(buf, sizeof buf, &r) > 0);
    assert_string_equal(buf, "(0000000005.000042) can0 123#R3");
    r.usec = 1000000u;
    assert_int_equal(candump_format_line(buf, sizeof buf, &r), TB_ERR_ARG);
    r.usec = 0;
    assert_int_equal(candump_format_line(buf, 10, &r), TB_ERR_NOSPACE);
    strcpy(r.iface, "a b");
    assert_int_equal(candump_format_line(buf, sizeof buf, &r), TB_ERR_ARG);
    /* round trip over ids, DLCs and flags */
    for (uint32_t k = 0; k < 2000; k++) {
        candump_rec_t a;
        memset(&a, 0, sizeof a);
        a.has_time = true;
        a.sec = (uint64_t)k * 104729u;
        a.usec = (k * 7919u) % 1000000u;
        strcpy(a.iface, (k & 1u) ? "vcan0" : "can0");
        a.frame.flags = (uint8_t)((k % 3u == 0u) ? CAN_FLAG_EXT : 0u);
        a.frame.id = (a.frame.flags & CAN_FLAG_EXT) ? (k * 2654435761u) & CAN_FRAME_EFF_MASK : (k * 37u) & CAN_FRAME_SFF_MASK;
        a.frame.dlc = (uint8_t)(k % 9u);
        for (unsigned i = 0; i < a.frame.dlc; i++) {
            a.frame.data[i] = (uint8_t)(k + i * 31u);
        }
        int n = candump_format_line(buf, sizeof buf, &a);
        assert_true(n > 0);
        candump_rec_t b;
        assert_int_equal(candump_parse_line(buf, (size_t)n, &b, NULL), 1);
        assert_int_equal(a.has_time, b.has_time);
        assert_int_equal(a.sec, b.sec);
        assert_int_equal(a.usec, b.usec);
        assert_string_equal(a.iface, b.iface);
        assert_frame_eq(&a.frame, &b.frame);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_accepted),
        cmocka_unit_test(lines_refused),
        cmocka_unit_test(format_and_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
