/* energy: charged and discharged energy counters (Wh) for Victron 0x378 and the UI.
 *
 * Integration: trapezoidal over the power P = V x I of consecutive samples, with the interval
 * split at the zero crossing when the power changes sign, so each counter is exact for power that
 * is linear between samples. Charge (I > 0) adds to charged_wh, discharge to discharged_wh (both
 * >= 0 and never decreasing). An interval longer than energy.max_gap_ms (a stale period, a
 * restart) is not integrated: the next sample starts afresh. A repeated sample time (the same
 * snapshot seen again) is ignored; a sample time that goes backwards, or a non-finite value,
 * drops the previous sample.
 *
 * Persistence: energy_serialize() writes a compact versioned blob (ENERGY_BLOB_SIZE bytes, CRC-16
 * MODBUS protected, little-endian) for the storage port; energy_restore() accepts only an intact
 * blob of a known version and otherwise leaves the counters untouched. energy_should_save()
 * decides when to write: never twice within energy.save_min_interval_s, and then once the counters
 * moved by energy.save_delta_wh or energy.save_max_interval_s has passed with any change. Save on
 * shutdown regardless (serialize + energy_mark_saved()).
 *
 * Blob layout v1 (26 bytes): 'E' 'N' | version=1 | payload length=20 | charged mWh u64 |
 * discharged mWh u64 | sequence u32 | CRC-16/MODBUS of the preceding 24 bytes, low byte first.
 * The sequence increases with every save so that an A/B storage scheme can pick the newest.
 *
 * Pure; caller-owned state; no allocation. Thread safety: none.
 */
#ifndef TB_ENERGY_H
#define TB_ENERGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg_schema.h"
#include "core/tb_err.h"

#define ENERGY_BLOB_VERSION 1u
#define ENERGY_BLOB_SIZE 26u

/* Section "energy". */
typedef struct {
    int32_t max_gap_ms;          /* longer sample gaps are not integrated */
    int32_t save_min_interval_s; /* at most one save per this interval */
    int32_t save_max_interval_s; /* save any change at least this often */
    float save_delta_wh;         /* save once the counters moved this much */
} energy_config_t;

typedef struct {
    double charged_wh;          /* total energy into the battery */
    double discharged_wh;       /* total energy out of the battery (positive) */
    bool have_prev;
    uint32_t prev_t_ms;
    float prev_p_w;
    double saved_charged_wh;    /* totals at the last save (or restore, or start) */
    double saved_discharged_wh;
    uint32_t last_save_ms;
    uint32_t sequence;          /* of the last blob saved or restored */
    uint32_t samples;           /* intervals integrated */
    uint32_t gaps;              /* intervals skipped as too long */
    uint32_t rejected;          /* samples dropped (non-finite, time going backwards) */
    double time_scale;          /* battery seconds per measured second: > 0 multiplies each
                                 * interval (the demo's simulated battery runs at its speed);
                                 * 0 (energy_init) = real time. Gaps are judged on the measured time. */
} energy_state_t;

extern const cfg_section_t energy_section;

void energy_config_defaults(energy_config_t *cfg);

/* Zero counters; `now_ms` counts as the last save time (nothing to save yet). */
void energy_init(energy_state_t *st, uint32_t now_ms);

/* Add one sample: pack voltage (V), current (A, + = charging) measured at t_ms (the live block's
 * time stamp, not the cycle time, so a repeated snapshot is recognised). */
void energy_sample(energy_state_t *st, const energy_config_t *cfg, uint32_t t_ms, float volts, float amps);

/* Should the counters be written now? See the file comment for the rule. Pure. */
bool energy_should_save(const energy_state_t *st, const energy_config_t *cfg, uint32_t now_ms);

/* Write the blob for the next save into buf (cap >= ENERGY_BLOB_SIZE). Returns the length or
 * TB_ERR_NOSPACE. Does not change the state: call energy_mark_saved() once storage succeeded. */
int energy_serialize(const energy_state_t *st, uint8_t *buf, size_t cap);

/* Record that the blob serialised last was stored at now_ms. */
void energy_mark_saved(energy_state_t *st, uint32_t now_ms);

/* Restore counters from a blob. TB_OK; TB_ERR_FORMAT (wrong magic/length); TB_ERR_UNSUPPORTED
 * (unknown version); TB_ERR_CRC (corrupt). On any error the state is unchanged. On success the
 * counters are set, the previous sample is dropped and now_ms counts as the last save. */
int energy_restore(energy_state_t *st, const uint8_t *buf, size_t len, uint32_t now_ms);

/* Counters in Victron 0x378 units (100 Wh), wrapping at 2^32 as the protocol does. */
uint32_t energy_charged_100wh(const energy_state_t *st);
uint32_t energy_discharged_100wh(const energy_state_t *st);

#endif
