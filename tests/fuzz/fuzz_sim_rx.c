/* libFuzzer harness: the simulator's UART responder (sim_rx / sim_tx).
 *
 * Trust model: every byte the gateway sends is arbitrary. Invariants checked:
 *   - no crash, no undefined behaviour, no read past the input (ASan/UBSan);
 *   - with no wire fault enabled, everything the BMS transmits is a sequence of complete frames,
 *     each starting 0xAA, of the length its command implies, with a valid CRC - or broadcast
 *     text (printable ASCII, never 0xAA) between frames;
 *   - the model's true state stays finite whatever settings the input managed to write.
 *
 * Input layout: byte 0 picks the configuration (cells, sleep, latency, wire faults on/off);
 * then chunks of [h, n, n bytes]: h & 0x3F = ms to wait before the chunk, h & 0x80 = append a
 * correct CRC to the chunk (so that the fuzzer reaches the command handlers), h & 0x40 = let
 * the model run 2 s first. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc16.h"
#include "sim/sim.h"

static uint8_t g_out[1 << 16];
static size_t g_out_len;

static void drain(sim_t *s, uint32_t now)
{
    if (g_out_len < sizeof g_out) {
        g_out_len += sim_tx(s, g_out + g_out_len, sizeof g_out - g_out_len, now);
    }
}

static size_t reply_len(const uint8_t *f, size_t have)
{
    if (have < 3) {
        return 0;
    }
    switch (f[1]) {
    case 0x00: return 6;
    case 0x01: return 5;
    case 0x07: return 5u + (f[2] & 0x3Fu);
    case 0x03: case 0x09: case 0x11: case 0x12: case 0x1B: case 0x1C: case 0x1D: case 0x1E:
    case 0x1F:
        return 5u + f[2];
    case 0x10: case 0x14: case 0x15: case 0x19: case 0x1A: return 8;
    case 0x16: case 0x17: case 0x18: return 6;
    case 0x20: return 16;
    default: return 0;
    }
}

static void check_stream(const uint8_t *b, size_t n)
{
    size_t k = 0;
    while (k < n) {
        if (b[k] != 0xAA) {
            /* broadcast text */
            if (!((b[k] >= 0x20 && b[k] < 0x7F) || b[k] == '\t' || b[k] == '\r' || b[k] == '\n')) {
                abort();
            }
            k++;
            continue;
        }
        size_t len = reply_len(b + k, n - k);
        if (len == 0 || k + len > n || crc16_modbus(b + k, len) != 0) {
            abort();
        }
        k += len;
    }
}

static void check_truth(const sim_t *s)
{
    sim_truth_t t;
    sim_truth(s, &t);
    double v[] = {t.pack_v, t.pack_i, t.soc_pct, t.bms_soc_pct, t.temp_ext1_c, t.temp_ext2_c,
                  t.temp_int_c, t.wh_in, t.wh_out, t.wh_loss};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        if (!isfinite(v[k])) {
            abort();
        }
    }
    for (unsigned k = 0; k < t.cells; k++) {
        if (!isfinite(t.cell_v[k]) || t.cell_v[k] < 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_t s;
    if (size < 1) {
        return 0;
    }
    uint8_t cfg0 = data[0];
    sim_config_t c;
    sim_config_default(&c);
    c.cells = (uint8_t)(4 + cfg0 % 13);
    c.sleep_enabled = (cfg0 & 0x10) != 0;
    c.reply_latency_ms = (uint16_t)((cfg0 >> 5) & 3);
    c.speed = (cfg0 & 0x80) ? 1000 : 1;
    c.start_ms = 0xFFFFF000u; /* exercise the 32-bit wrap of the wire clock */
    if (sim_init(&s, &c) != SIM_OK) {
        abort();
    }
    bool faults = (cfg0 & 0x40) != 0;
    if (faults) {
        sim_fault_t f = {0.3, 5, 0};
        for (unsigned k = SIM_FAULT_NOREPLY; k <= SIM_FAULT_GARBAGE; k++) {
            sim_set_fault(&s, (sim_fault_kind_t)k, &f, c.start_ms);
        }
    }
    g_out_len = 0;
    uint32_t now = c.start_ms;
    size_t i = 1;
    uint8_t frame[300];
    while (i + 2 <= size) {
        uint8_t h = data[i], n = data[i + 1];
        i += 2;
        size_t take = n < size - i ? n : size - i;
        if (take > sizeof frame - 2) {
            take = sizeof frame - 2;
        }
        memcpy(frame, data + i, take);
        i += take;
        size_t len = take;
        if ((h & 0x80) && take > 0) {
            uint16_t crc = crc16_modbus(frame, take);
            frame[len++] = (uint8_t)(crc & 0xFF);
            frame[len++] = (uint8_t)(crc >> 8);
        }
        now += h & 0x3Fu;
        if (h & 0x40) {
            for (int k = 0; k < 20; k++) {
                now += 100;
                drain(&s, now);
            }
        }
        drain(&s, now);
        sim_rx(&s, len ? frame : NULL, len, now);
        drain(&s, now);
    }
    for (int k = 0; k < 40; k++) {
        now += 100;
        drain(&s, now);
    }
    if (!faults && g_out_len < sizeof g_out) {
        check_stream(g_out, g_out_len);
    }
    check_truth(&s);
    return 0;
}
