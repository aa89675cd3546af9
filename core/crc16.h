/* CRC-16/MODBUS: poly 0x8005 (reflected 0xA001), init 0xFFFF, no final XOR.
 * Check value over ASCII "123456789" is 0x4B37. On the TinyBMS wire (Modbus and proprietary
 * frames alike) the CRC covers every byte from the 0xAA header to the last payload byte and is
 * appended low byte first.
 *
 * This file is the only code the simulator (sim/) shares with the gateway.
 */
#ifndef TB_CRC16_H
#define TB_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define CRC16_MODBUS_INIT 0xFFFFu

/* CRC of len bytes (buf may be NULL only when len is 0). Pure; thread-safe. */
uint16_t crc16_modbus(const uint8_t *buf, size_t len);

/* Continue a CRC: crc16_modbus_update(CRC16_MODBUS_INIT, b, n) == crc16_modbus(b, n). */
uint16_t crc16_modbus_update(uint16_t crc, const uint8_t *buf, size_t len);

#endif
