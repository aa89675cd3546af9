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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_value),
        cmocka_unit_test(vendor_vectors),
        cmocka_unit_test(residue_and_incremental),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
