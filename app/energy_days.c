#include "app/energy_days.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/crc16.h"
#include "core/tb_err.h"

#define ENERGY_DAYS_WALL_VALID_MS 1704067200000ull /* 2024-01-01: an earlier wall clock was never set */

void energy_days_init(energy_days_t *s)
{
    memset(s, 0, sizeof *s);
    s->today = ENERGY_DAYS_NO_CLOCK;
}

/* Put a fresh bucket for `day` at the front (the oldest falls off when all are in use). */
static void push_front(energy_days_t *s, int32_t day)
{
    unsigned n = s->count < ENERGY_DAYS_N ? s->count : ENERGY_DAYS_N - 1u;
    memmove(&s->d[1], &s->d[0], n * sizeof s->d[0]);
    s->d[0].day = day;
    s->d[0].in_wh = 0.0;
    s->d[0].out_wh = 0.0;
    s->count = (uint8_t)(n + 1u);
}

/* The clock went back to `day`: every bucket dated after it becomes part of it. */
static void fold_back(energy_days_t *s, int32_t day)
{
    double in = 0.0, out = 0.0;
    unsigned k = 0;
    while (k < s->count && s->d[k].day >= day) {
        in += s->d[k].in_wh;
        out += s->d[k].out_wh;
        k++;
    }
    memmove(&s->d[0], &s->d[k], (s->count - k) * sizeof s->d[0]);
    s->count = (uint8_t)(s->count - k);
    push_front(s, day);
    s->d[0].in_wh = in;
    s->d[0].out_wh = out;
    s->clock_steps_back++;
}

void energy_days_update(energy_days_t *s, int32_t day, double total_in_wh, double total_out_wh)
{
    if (!isfinite(total_in_wh) || !isfinite(total_out_wh)) {
        return;
    }
    double din = total_in_wh - s->base_in_wh, dout = total_out_wh - s->base_out_wh;
    bool count = s->have_base && din >= 0.0 && dout >= 0.0;
    s->have_base = true;
    s->base_in_wh = total_in_wh;
    s->base_out_wh = total_out_wh;
    if (!count) {
        din = 0.0;
        dout = 0.0;
    }
    if (day == ENERGY_DAYS_NO_CLOCK) {
        s->clock_known = false;
        s->today = ENERGY_DAYS_NO_CLOCK;
        s->undated_in_wh += din;
        s->undated_out_wh += dout;
        return;
    }
    s->clock_known = true;
    s->today = day;
    if (s->count == 0u || day > s->d[0].day) {
        push_front(s, day);
    } else if (day < s->d[0].day) {
        fold_back(s, day);
    }
    s->d[0].in_wh += din;
    s->d[0].out_wh += dout;
}

void energy_days_sum(const energy_days_t *s, int32_t first_day, int32_t last_day, double *in_wh, double *out_wh)
{
    double in = 0.0, out = 0.0;
    for (unsigned i = 0; i < s->count; i++) {
        if (s->d[i].day >= first_day && s->d[i].day <= last_day) {
            in += s->d[i].in_wh;
            out += s->d[i].out_wh;
        }
    }
    *in_wh = in;
    *out_wh = out;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Wh -> 0.1 Wh units, clamped to what the blob holds (429 MWh). */
static uint32_t deci_wh(double wh)
{
    double v = wh * 10.0 + 0.5;
    return !(v > 0.0) ? 0u : v >= 4294967295.0 ? UINT32_MAX : (uint32_t)v;
}

int energy_days_serialize(const energy_days_t *s, uint8_t *buf, size_t cap)
{
    if (cap < ENERGY_DAYS_BLOB_SIZE) {
        return TB_ERR_NOSPACE;
    }
    memset(buf, 0, ENERGY_DAYS_BLOB_SIZE);
    buf[0] = 'E';
    buf[1] = 'D';
    buf[2] = ENERGY_DAYS_BLOB_VERSION;
    buf[3] = s->count;
    uint8_t *p = buf + 4;
    for (unsigned i = 0; i < ENERGY_DAYS_N; i++, p += 12) {
        if (i < s->count) {
            put32(p, (uint32_t)s->d[i].day);
            put32(p + 4, deci_wh(s->d[i].in_wh));
            put32(p + 8, deci_wh(s->d[i].out_wh));
        }
    }
    put32(p, deci_wh(s->undated_in_wh));
    put32(p + 4, deci_wh(s->undated_out_wh));
    put32(p + 8, s->clock_steps_back);
    p += 12;
    uint16_t crc = crc16_modbus(buf, (size_t)(p - buf));
    p[0] = (uint8_t)crc;
    p[1] = (uint8_t)(crc >> 8);
    return (int)ENERGY_DAYS_BLOB_SIZE;
}

int energy_days_restore(energy_days_t *s, const uint8_t *buf, size_t len)
{
    if (len < 4u || buf[0] != 'E' || buf[1] != 'D') {
        return TB_ERR_FORMAT;
    }
    if (buf[2] != ENERGY_DAYS_BLOB_VERSION) {
        return TB_ERR_UNSUPPORTED;
    }
    if (len != ENERGY_DAYS_BLOB_SIZE || buf[3] > ENERGY_DAYS_N) {
        return TB_ERR_FORMAT;
    }
    size_t body = ENERGY_DAYS_BLOB_SIZE - 2u;
    if (crc16_modbus(buf, body) != (uint16_t)(buf[body] | buf[body + 1u] << 8)) {
        return TB_ERR_CRC;
    }
    energy_days_t t;
    energy_days_init(&t);
    t.count = buf[3];
    const uint8_t *p = buf + 4;
    for (unsigned i = 0; i < ENERGY_DAYS_N; i++, p += 12) {
        if (i < t.count) {
            t.d[i].day = (int32_t)get32(p);
            t.d[i].in_wh = get32(p + 4) / 10.0;
            t.d[i].out_wh = get32(p + 8) / 10.0;
            if (i > 0 && t.d[i].day >= t.d[i - 1].day) {
                return TB_ERR_FORMAT; /* newest first, one bucket per day */
            }
        }
    }
    t.undated_in_wh = get32(p) / 10.0;
    t.undated_out_wh = get32(p + 4) / 10.0;
    t.clock_steps_back = get32(p + 8);
    *s = t;
    return TB_OK;
}

/* Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms). */
int32_t energy_days_from_civil(int32_t y, unsigned m, unsigned d)
{
    y -= m <= 2u;
    int32_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (m > 2u ? m - 3u : m + 9u) + 2u) / 5u + d - 1u;
    unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

void energy_days_to_civil(int32_t day, int32_t *y, unsigned *m, unsigned *d)
{
    int32_t z = day + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    unsigned doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    unsigned mp = (5u * doy + 2u) / 153u;
    *d = doy - (153u * mp + 2u) / 5u + 1u;
    *m = mp < 10u ? mp + 3u : mp - 9u;
    *y = (int32_t)yoe + era * 400 + (*m <= 2u);
}

void energy_days_date(int32_t day, char *buf, size_t cap)
{
    if (cap == 0u) {
        return;
    }
    if (day == ENERGY_DAYS_NO_CLOCK) {
        buf[0] = '\0';
        return;
    }
    int32_t y;
    unsigned m, d;
    energy_days_to_civil(day, &y, &m, &d);
    snprintf(buf, cap, "%04ld-%02u-%02u", (long)y, m, d);
}

int32_t energy_days_local(uint64_t wall_ms)
{
    if (wall_ms < ENERGY_DAYS_WALL_VALID_MS) {
        return ENERGY_DAYS_NO_CLOCK;
    }
    time_t t = (time_t)(wall_ms / 1000u);
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        return ENERGY_DAYS_NO_CLOCK;
    }
    return energy_days_from_civil((int32_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1u, (unsigned)tm.tm_mday);
}
