/* history: on-device history of the battery and the limits, for the charts and CSV export.
 *
 * Two rings: fine samples every HISTORY_FINE_S seconds covering the last 24 h, and coarse
 * one-minute averages covering 7 days (1 h and 24 h views read the fine ring, 7 d the coarse
 * one). The owner thread appends; readers copy out under the port's lock. Samples are averages
 * over their interval (min/max cell keep the extremes), stamped with wall-clock seconds.
 * No OS calls; the caller allocates history_t (about 850 KB with the defaults).
 */
#ifndef APP_HISTORY_H
#define APP_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef HISTORY_FINE_S
#define HISTORY_FINE_S 10u
#endif
#ifndef HISTORY_FINE_N
#define HISTORY_FINE_N (24u * 3600u / HISTORY_FINE_S)
#endif
#ifndef HISTORY_COARSE_S
#define HISTORY_COARSE_S 60u
#endif
#ifndef HISTORY_COARSE_N
#define HISTORY_COARSE_N (7u * 24u * 3600u / HISTORY_COARSE_S)
#endif

typedef struct {
    uint32_t t;       /* wall clock, seconds since the epoch (end of the interval) */
    float pack_v;
    float pack_a;
    float soc_pct;
    float cell_min_v;
    float cell_max_v;
    float temp_max_c;
    float cvl_v;
    float ccl_a;
    float dcl_a;
} history_sample_t;

typedef struct {
    history_sample_t *buf;
    uint32_t cap;
    uint32_t head;    /* next write index */
    uint32_t count;
} history_ring_t;

typedef struct {
    history_sample_t fine_buf[HISTORY_FINE_N];
    history_sample_t coarse_buf[HISTORY_COARSE_N];
    history_ring_t fine;
    history_ring_t coarse;
    /* accumulators */
    history_sample_t acc_f, acc_c;
    uint32_t n_f, n_c;
    uint32_t cnt_f[9], cnt_c[9]; /* observations with a value, per field */
    uint32_t start_f, start_c; /* index (t / width) of the open bucket */
} history_t;

void history_init(history_t *h);
/* Add one observation at wall-clock second t (monotonic in practice; a step backwards restarts
 * the current interval). Non-finite values are skipped field by field. */
void history_add(history_t *h, uint32_t t, const history_sample_t *obs);

typedef enum { HISTORY_1H, HISTORY_24H, HISTORY_7D } history_range_t;
/* Copy the samples of a range, oldest first, into out (cap entries); returns how many. */
size_t history_get(const history_t *h, history_range_t r, uint32_t now_t, history_sample_t *out, size_t cap);
/* Width of the samples history_get() returns for a range, and at most how many it returns. */
uint32_t history_interval_s(history_range_t r);
size_t history_max_samples(history_range_t r);
/* "1h" / "24h" / "7d" -> range; false if unknown. */
bool history_range_parse(const char *s, history_range_t *out);

#endif
