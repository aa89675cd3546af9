/* energy_days: charged and discharged energy per calendar day (today, yesterday, the last 7 days)
 * from the lifetime counters of core/energy.h.
 *
 * The caller passes, every cycle, the lifetime totals and the current day as a day number
 * (days since 1970-01-01 in local time, energy_days_from_civil()), or ENERGY_DAYS_NO_CLOCK when the
 * wall clock is not known (the firmware before SNTP): the module never reads a clock. What the
 * totals grew since the last call is added to the current day's bucket.
 *
 * - Day rollover: a later day opens a new bucket (days without any call hold nothing); the
 *   ENERGY_DAYS_N newest buckets are kept.
 * - Clock step forwards: the same; the days skipped hold 0.
 * - Clock step backwards to an earlier day (a wrong clock corrected): the buckets dated after the
 *   new day are folded into it, so no energy is lost or counted twice and no bucket is dated in
 *   the future; counted in clock_steps_back. A step back within the same day changes nothing.
 * - No wall clock: the growth is counted in undated_in_wh / undated_out_wh, outside every day.
 * - Restart: energy_days_serialize() / energy_days_restore() keep the buckets and the undated
 *   energy; the first update after a restore (or init) only takes the totals as its base, so the
 *   counters restored by core/energy are not counted again. Totals that go down (counters lost or
 *   reset) are taken as the new base without counting anything.
 *
 * Blob v1 (ENERGY_DAYS_BLOB_SIZE bytes, little-endian): 'E' 'D' | version=1 | bucket count |
 * ENERGY_DAYS_N x (day i32, in u32, out u32; 0.1 Wh) | undated in u32, out u32 (0.1 Wh) |
 * clock_steps_back u32 | CRC-16/MODBUS of everything before, low byte first.
 *
 * Pure; caller-owned state; no allocation. Thread safety: none (the owner thread).
 */
#ifndef APP_ENERGY_DAYS_H
#define APP_ENERGY_DAYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENERGY_DAYS_N 8u /* today and the 7 days before */
#define ENERGY_DAYS_NO_CLOCK INT32_MIN
#define ENERGY_DAYS_BLOB_VERSION 1u
#define ENERGY_DAYS_BLOB_SIZE (4u + ENERGY_DAYS_N * 12u + 12u + 2u)

typedef struct {
    int32_t day;   /* days since 1970-01-01 (local time) */
    double in_wh;  /* charged that day */
    double out_wh; /* discharged that day (positive) */
} energy_day_t;

typedef struct {
    energy_day_t d[ENERGY_DAYS_N]; /* d[0] is the newest day, older ones follow */
    uint8_t count;                 /* buckets in use */
    bool have_base;
    double base_in_wh, base_out_wh; /* the totals at the last update */
    double undated_in_wh, undated_out_wh;
    bool clock_known;               /* the last update had a day */
    int32_t today;                  /* the day of the last update, ENERGY_DAYS_NO_CLOCK if none */
    uint32_t clock_steps_back;
} energy_days_t;

/* Empty: no buckets, no base, no clock. */
void energy_days_init(energy_days_t *s);

/* One cycle: day (or ENERGY_DAYS_NO_CLOCK) and the lifetime totals (Wh, never negative). Non-finite
 * totals are ignored. */
void energy_days_update(energy_days_t *s, int32_t day, double total_in_wh, double total_out_wh);

/* Sum of the buckets dated first_day..last_day (inclusive) into *in_wh / *out_wh. */
void energy_days_sum(const energy_days_t *s, int32_t first_day, int32_t last_day, double *in_wh, double *out_wh);

/* Blob for the storage port (cap >= ENERGY_DAYS_BLOB_SIZE): the length or TB_ERR_NOSPACE. */
int energy_days_serialize(const energy_days_t *s, uint8_t *buf, size_t cap);

/* TB_OK; TB_ERR_FORMAT (magic, length, bucket count or order), TB_ERR_UNSUPPORTED (version),
 * TB_ERR_CRC. On error *s is unchanged. On success the base is dropped (see the file comment). */
int energy_days_restore(energy_days_t *s, const uint8_t *buf, size_t len);

/* Proleptic Gregorian calendar <-> day number (days since 1970-01-01). */
int32_t energy_days_from_civil(int32_t y, unsigned m, unsigned d);
void energy_days_to_civil(int32_t day, int32_t *y, unsigned *m, unsigned *d);

/* The local calendar day (libc's localtime_r: TZ, UTC when none is set, as on the firmware) of a
 * wall-clock time in ms since 1970, or ENERGY_DAYS_NO_CLOCK for a clock that is not set: 0 (no time
 * from the port yet, SNTP not done) or before 2024 (never set). */
int32_t energy_days_local(uint64_t wall_ms);

/* "YYYY-MM-DD" into buf (cap >= 11); "" for ENERGY_DAYS_NO_CLOCK. */
void energy_days_date(int32_t day, char *buf, size_t cap);

#endif
