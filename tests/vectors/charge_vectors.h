/* Golden vectors for the charge-limit controller: plain C tables, no test framework, so that the
 * microcontroller target tests (tests/target/) can run the same cases.
 *
 * Limiter cases assume the default configuration (chg_config_defaults) and the snapshot of
 * tests/unit/test_charge_util.h (TinyBMS settings OV 3.65 V, UV 2.80 V, fully charged 3.60 V,
 * charge OC 100 A, discharge OC 150 A, over-heat 60 C, low-temperature charge cut-off 0 C,
 * 280 Ah) with 16 cells and the listed fields overriding it. The runner feeds the snapshot twice,
 * 1 s apart, to a fresh controller and compares the targets of the second step (before the
 * output ramp). The expected values were worked out by hand from docs/charge-control.md:
 *   base CCL = min(100, 0.8 x 100) = 80 A (bms_cutoff); base DCL = min(150, 0.8 x 150) = 120 A;
 *   CCL taper 3.40 -> 3.55 V, DCL taper 3.10 -> 2.90 V, shape below;
 *   charge window (0, 50) C, discharge window (-20, 55) C, derating 20 % -> 100 % over 10 C;
 *   SOC tapers: CCL 1 -> 0.25 over 95 -> 100 %, DCL 0.25 -> 1 over 0 -> 10 %;
 *   imbalance hold at spread >= 0.10 V with highest cell >= 3.40 V: 0.02 C = 5.6 A;
 *   CVL = min(16 x 3.45 = 55.2 V, pack + 16 x (3.50 - highest cell), floored at the pack), 0.1 V down.
 */
#ifndef TB_CHARGE_VECTORS_H
#define TB_CHARGE_VECTORS_H

#include <stdint.h>

/* The fixed taper shape: relative position x in [0, 1] -> fraction of the base current. */
typedef struct {
    float x;
    float frac;
} chg_vec_taper_t;

extern const chg_vec_taper_t chg_vec_taper[];
extern const unsigned chg_vec_taper_count;

typedef struct {
    const char *name;
    float vmax;          /* cell 16 */
    float vmin;          /* cell 1 */
    float others;        /* cells 2..15 */
    float temp_c;        /* every sensor */
    float soc_pct;
    uint8_t fault;       /* 1: TinyBMS status 0x9B */
    float ccl_target_a;  /* expected, +-0.1 A */
    const char *ccl_lim; /* expected chg_limiter_name() of the CCL target */
    float dcl_target_a;
    const char *dcl_lim;
    float cvl_target_v;  /* expected CVL target; 0 = charging stopped (pack voltage rounded down) */
    const char *cvl_lim; /* expected CVL target limiter, NULL = not checked */
} chg_vec_case_t;

extern const chg_vec_case_t chg_vec_cases[];
extern const unsigned chg_vec_case_count;

#endif
