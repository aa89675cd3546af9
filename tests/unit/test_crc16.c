#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/crc16.h"

/* Standard check value of CRC-16/MODBUS. */
static void check_value(void **state)
{
    (void)state;
    const char *s = "123456789";
    assert_int_equal(crc16_modbus((const uint8_t *)s, strlen(s)), 0x4B37);
}

/* Vectors from the TinyBMS protocol document (reference tinybms-protocol.md section 3.2 / 2). */
static void vendor_vectors(void **state)
{
    (void)state;
    const uint8_t req_1b[] = {0xAA, 0x1B};
    assert_int_equal(crc16_modbus(req_1b, sizeof req_1b), 0x1B3F);
    const uint8_t rep_1b[] = {0xAA, 0x1B, 0x06, 0x16, 0x01, 0x14, 0x01, 0x16, 0x01};
    assert_int_equal(crc16_modbus(rep_1b, sizeof rep_1b), 0x4E0E);
    const uint8_t reset[] = {0xAA, 0x02, 0x05};
    assert_int_equal(crc16_modbus(reset, sizeof reset), 0x8390);
    const uint8_t read59[] = {0xAA, 0x03, 0x00, 0x05, 0x00, 0x05};
    assert_int_equal(crc16_modbus(read59, sizeof read59), 0x138C);
    const uint8_t write[] = {0xAA, 0x10, 0x01, 0x3B, 0x00, 0x02, 0x04, 0x10, 0x68, 0x09, 0xC4};
    assert_int_equal(crc16_modbus(write, sizeof write), 0x6119);
}

/* A frame followed by its CRC (low byte first) has a residue of zero. */
static void residue_and_incremental(void **state)
{
    (void)state;
    uint8_t f[] = {0xAA, 0x03, 0x00, 0x00, 0x00, 0x38, 0, 0};
    uint16_t c = crc16_modbus(f, 6);
    f[6] = (uint8_t)(c & 0xFF);
    f[7] = (uint8_t)(c >> 8);
    assert_int_equal(f[6], 0x5D);
    assert_int_equal(f[7], 0xC3);
    assert_int_equal(crc16_modbus(f, 8), 0);
    uint16_t part = crc16_modbus_update(CRC16_MODBUS_INIT, f, 3);
    assert_int_equal(crc16_modbus_update(part, f + 3, 3), c);
    assert_int_equal(crc16_modbus(NULL, 0), 0xFFFF);
}

/* The nibble-table implementation against the bitwise definition (poly 0xA001, reflected) on
 * every single byte from every register value's low byte, and on pseudo-random buffers. */
static uint16_t crc_bitwise(uint16_t crc, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

static void matches_bitwise_definition(void **state)
{
    (void)state;
    for (unsigned c = 0; c <= 0xFFFFu; c += 7u) {
        for (unsigned v = 0; v < 256u; v++) {
            uint8_t b = (uint8_t)v;
            assert_int_equal(crc16_modbus_update((uint16_t)c, &b, 1), crc_bitwise((uint16_t)c, &b, 1));
        }
    }
    uint32_t x = 12345u;
    uint8_t buf[300];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round * 3 % 300);
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            buf[i] = (uint8_t)(x >> 24);
        }
        assert_int_equal(crc16_modbus(buf, n), crc_bitwise(0xFFFFu, buf, n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_value),
        cmocka_unit_test(vendor_vectors),
        cmocka_unit_test(residue_and_incremental),
        cmocka_unit_test(matches_bitwise_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
