#include "fake_bms.h"

#include <string.h>

#include "core/crc16.h"

void fake_bms_set_u32(fake_bms_t *f, unsigned addr, uint32_t v)
{
    f->regs[addr] = (uint16_t)(v & 0xFFFF);
    f->regs[addr + 1] = (uint16_t)(v >> 16);
}

void fake_bms_set_float(fake_bms_t *f, unsigned addr, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    fake_bms_set_u32(f, addr, u);
}

void fake_bms_init(fake_bms_t *f, unsigned cells)
{
    memset(f, 0, sizeof *f);
    for (unsigned i = 0; i < cells; i++) {
        f->regs[16 - cells + i] = (uint16_t)(33000 + 10 * i); /* 3.3000 V, 3.3010 V, ... (0.1 mV) */
    }
    f->regs[40] = 3300;
    f->regs[41] = (uint16_t)(3300 + (cells - 1));
    fake_bms_set_u32(f, 32, 123456);        /* lifetime s */
    fake_bms_set_u32(f, 34, 7200);          /* time left s */
    fake_bms_set_float(f, 36, 3.3045f * (float)cells);
    fake_bms_set_float(f, 38, -12.5f);
    f->regs[42] = 215;                      /* 21.5 degC */
    f->regs[43] = 0x8000;                   /* no sensor */
    f->regs[45] = 49000;                    /* 98 % SOH */
    fake_bms_set_u32(f, 46, 80587318);      /* 80.587318 % (the [C5] dump value) */
    f->regs[48] = 256;                      /* 25.6 degC */
    f->regs[50] = 0x93;                     /* discharging */
    f->regs[51] = 0x0003;
    f->regs[52] = 0x0001;
    f->regs[53] = (uint16_t)cells;
    /* statistics */
    f->regs[102] = 1234;                    /* 123.4 A */
    f->regs[103] = 567;
    f->regs[104] = 250;                     /* 25 mV */
    f->regs[106] = 2;
    f->regs[112] = 17;
    f->regs[113] = (uint16_t)((35 << 8) | (uint8_t)(int8_t)-5);
    f->regs[114] = 0x0305;
    /* events: two records ([C5] example) */
    f->regs[202] = 0x4E2B; f->regs[203] = 0x64B9;
    f->regs[204] = 0x4E2C; f->regs[205] = 0x62B9;
    /* settings */
    f->regs[300] = 3650; f->regs[301] = 3000; f->regs[303] = 3400; f->regs[304] = 1000;
    f->regs[305] = 150;  f->regs[306] = 28000; f->regs[307] = (uint16_t)cells; f->regs[308] = 15;
    f->regs[310] = 20; f->regs[311] = 5;
    f->regs[312] = 1000; f->regs[314] = 2;
    f->regs[315] = 3800; f->regs[316] = 2800; f->regs[317] = 100; f->regs[318] = 60;
    f->regs[319] = 60; f->regs[320] = (uint16_t)(int16_t)-5; f->regs[321] = 80; f->regs[322] = 4000;
    f->regs[330] = 0x0501; f->regs[332] = 5; f->regs[333] = 1; f->regs[335] = 1;
    /* version: hw 1.2, fw 3, high power, Hall sensor; internal 242; bootloader 0x18, map 4 */
    f->regs[500] = 0x0201; f->regs[501] = 0x0303; f->regs[502] = 242; f->regs[503] = 0x0418;
    for (unsigned i = 0; i < 6; i++) {
        f->regs[504 + i] = (uint16_t)(0x1000 + i);
    }
    for (unsigned i = 0; i < 44; i++) {
        f->min[i] = 0;
        f->max[i] = 0xFFFF;
        f->def[i] = f->regs[300 + i];
    }
    f->support_0x1d = true;
}

static void emit(fake_bms_t *f, uint8_t *frame, size_t n_without_crc)
{
    uint16_t c = crc16_modbus(frame, n_without_crc);
    frame[n_without_crc] = (uint8_t)(c & 0xFF);
    frame[n_without_crc + 1] = (uint8_t)(c >> 8);
    size_t n = n_without_crc + 2;
    if (f->corrupt_next) {
        frame[n / 2] ^= 0x5A;
        f->corrupt_next = false;
    }
    if (f->out_len + n <= sizeof f->out) {
        memcpy(f->out + f->out_len, frame, n);
        f->out_len += n;
    }
}

static void nack(fake_bms_t *f, uint8_t cmd, uint8_t err)
{
    uint8_t b[8] = {0xAA, 0x00, cmd, err};
    emit(f, b, 4);
}

void fake_bms_request(fake_bms_t *f, const uint8_t *q, size_t n)
{
    if (n < 4 || q[0] != 0xAA) {
        return;
    }
    if (crc16_modbus(q, n) != 0) {
        nack(f, q[1], 0x01);
        return;
    }
    if (f->asleep) {
        f->asleep = false;
        return;
    }
    if (f->drop_next > 0) {
        f->drop_next--;
        return;
    }
    f->requests++;
    if (f->nack_next > 0) {
        f->nack_next--;
        nack(f, q[1], 0x00);
        return;
    }
    uint8_t b[300];
    switch (q[1]) {
    case 0x03: {
        unsigned addr = (unsigned)(q[2] << 8 | q[3]), cnt = (unsigned)(q[4] << 8 | q[5]);
        if (cnt == 0 || cnt > 127 || addr + cnt > 600) {
            nack(f, 0x03, 0x00);
            return;
        }
        b[0] = 0xAA; b[1] = 0x03; b[2] = (uint8_t)(2 * cnt);
        for (unsigned i = 0; i < cnt; i++) {
            b[3 + 2 * i] = (uint8_t)(f->regs[addr + i] >> 8);
            b[4 + 2 * i] = (uint8_t)(f->regs[addr + i] & 0xFF);
        }
        emit(f, b, 3 + 2 * cnt);
        return;
    }
    case 0x10: {
        unsigned addr = (unsigned)(q[2] << 8 | q[3]), cnt = (unsigned)(q[4] << 8 | q[5]);
        if (addr < 300 || addr + cnt - 1 > 399 || q[6] != 2 * cnt || n != 9 + 2 * cnt) {
            nack(f, 0x10, 0x00);
            return;
        }
        for (unsigned i = 0; i < cnt && !f->ignore_writes; i++) {
            unsigned a = addr + i;
            /* 323 (SOH) and 328 (SOC) read 0xFFFF once the value has been accepted */
            f->regs[a] = (a == 323 || a == 328) ? 0xFFFF : (uint16_t)(q[7 + 2 * i] << 8 | q[8 + 2 * i]);
        }
        f->writes++;
        memcpy(b, q, 6);
        emit(f, b, 6);
        return;
    }
    case 0x02:
        if (q[2] < 6) {
            f->resets[q[2]]++;
        }
        b[0] = 0xAA; b[1] = 0x01; b[2] = 0x02;
        emit(f, b, 3);
        return;
    case 0x1D: {
        if (!f->support_0x1d) {
            nack(f, 0x1D, 0x00);
            return;
        }
        unsigned opt = q[2], cnt = q[4];
        const uint16_t *src = opt == 1 ? f->min : opt == 2 ? f->max : opt == 3 ? f->def : &f->regs[300];
        b[0] = 0xAA; b[1] = 0x1D; b[2] = (uint8_t)(2 * cnt);
        for (unsigned i = 0; i < cnt && i < 44; i++) {
            b[3 + 2 * i] = (uint8_t)(src[i] & 0xFF);
            b[4 + 2 * i] = (uint8_t)(src[i] >> 8);
        }
        emit(f, b, 3 + 2 * cnt);
        return;
    }
    case 0x11:
    case 0x12: {
        /* BTSP then records from the event registers, little-endian */
        uint32_t t = (uint32_t)f->regs[32] | ((uint32_t)f->regs[33] << 16);
        b[0] = 0xAA; b[1] = q[1];
        size_t k = 3;
        b[k++] = (uint8_t)t; b[k++] = (uint8_t)(t >> 8); b[k++] = (uint8_t)(t >> 16); b[k++] = (uint8_t)(t >> 24);
        for (unsigned s = 0; s < 49; s++) {
            uint16_t lo = f->regs[200 + 2 * s], hi = f->regs[201 + 2 * s];
            if (!lo && !hi) {
                continue;
            }
            b[k++] = (uint8_t)(lo & 0xFF); b[k++] = (uint8_t)(lo >> 8); b[k++] = (uint8_t)(hi & 0xFF);
            b[k++] = (uint8_t)(hi >> 8);
        }
        b[2] = (uint8_t)(k - 3);
        emit(f, b, k);
        return;
    }
    case 0x1F:
        b[0] = 0xAA; b[1] = 0x1F; b[2] = 7;
        b[3] = (uint8_t)(f->regs[500] & 0xFF); b[4] = (uint8_t)(f->regs[500] >> 8);
        b[5] = (uint8_t)(f->regs[501] & 0xFF);
        b[6] = (uint8_t)(f->regs[502] & 0xFF); b[7] = (uint8_t)(f->regs[502] >> 8);
        b[8] = (uint8_t)(f->regs[503] & 0xFF); b[9] = (uint8_t)(f->regs[503] >> 8);
        emit(f, b, 10);
        return;
    default:
        nack(f, q[1], 0x00);
        return;
    }
}

size_t fake_bms_take(fake_bms_t *f, uint8_t *buf, size_t cap)
{
    size_t n = f->out_len < cap ? f->out_len : cap;
    memcpy(buf, f->out, n);
    memmove(f->out, f->out + n, f->out_len - n);
    f->out_len -= n;
    return n;
}
