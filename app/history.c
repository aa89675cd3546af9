#include "app/history.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define NFIELDS 9u

/* The nine values are accessed as an array starting at pack_v. */
_Static_assert(offsetof(history_sample_t, dcl_a) == offsetof(history_sample_t, pack_v) + 8u * sizeof(float),
               "history_sample_t floats must be contiguous");

static float *fields(history_sample_t *s)
{
    return &s->pack_v; /* the nine floats are contiguous after t */
}

static void ring_init(history_ring_t *r, history_sample_t *buf, uint32_t cap)
{
    r->buf = buf;
    r->cap = cap;
    r->head = 0;
    r->count = 0;
}

static void ring_push(history_ring_t *r, const history_sample_t *s)
{
    r->buf[r->head] = *s;
    r->head = (r->head + 1u) % r->cap;
    if (r->count < r->cap) {
        r->count++;
    }
}

void history_init(history_t *h)
{
    memset(&h->acc_f, 0, sizeof h->acc_f);
    memset(&h->acc_c, 0, sizeof h->acc_c);
    h->n_f = h->n_c = 0;
    h->start_f = h->start_c = 0;
    ring_init(&h->fine, h->fine_buf, HISTORY_FINE_N);
    ring_init(&h->coarse, h->coarse_buf, HISTORY_COARSE_N);
}

/* Accumulate: sums for averages, extremes for min/max cell. NaN counts as "no value" (the
 * average then uses the samples that had one; all-NaN gives NaN). */
static void acc_add(history_sample_t *acc, uint32_t *n, const history_sample_t *obs, uint32_t counts[NFIELDS])
{
    const float *in = &obs->pack_v;
    float *a = fields(acc);
    for (unsigned i = 0; i < NFIELDS; i++) {
        if (!isfinite(in[i])) {
            continue;
        }
        if (&a[i] == &acc->cell_min_v) {
            a[i] = counts[i] ? fminf(a[i], in[i]) : in[i];
        } else if (&a[i] == &acc->cell_max_v || &a[i] == &acc->temp_max_c) {
            a[i] = counts[i] ? fmaxf(a[i], in[i]) : in[i];
        } else {
            a[i] = counts[i] ? a[i] + in[i] : in[i];
        }
        counts[i]++;
    }
    (*n)++;
}

static void acc_close(history_sample_t *acc, const uint32_t counts[NFIELDS], uint32_t t, history_sample_t *out)
{
    *out = *acc;
    out->t = t;
    float *o = fields(out);
    for (unsigned i = 0; i < NFIELDS; i++) {
        if (counts[i] == 0u) {
            o[i] = NAN;
        } else if (&o[i] != &out->cell_min_v && &o[i] != &out->cell_max_v && &o[i] != &out->temp_max_c) {
            o[i] /= (float)counts[i];
        }
    }
}

/* Buckets are aligned to the wall clock (a 10 s bucket covers [k*10, k*10+10)); a bucket is
 * closed and stored when the first observation of a later bucket arrives, stamped with its end. */
static void bucket_add(history_ring_t *ring, history_sample_t *acc, uint32_t *n, uint32_t *cnt, uint32_t *cur,
                       uint32_t width, uint32_t t, const history_sample_t *obs)
{
    uint32_t idx = t / width;
    if (*n > 0u && idx != *cur) {
        if (idx > *cur) {
            history_sample_t s;
            acc_close(acc, cnt, (*cur + 1u) * width, &s);
            ring_push(ring, &s);
        }
        *n = 0; /* a step backwards in time drops the open bucket */
    }
    if (*n == 0u) {
        memset(acc, 0, sizeof *acc);
        memset(cnt, 0, NFIELDS * sizeof cnt[0]);
        *cur = idx;
    }
    acc_add(acc, n, obs, cnt);
}

void history_add(history_t *h, uint32_t t, const history_sample_t *obs)
{
    bucket_add(&h->fine, &h->acc_f, &h->n_f, h->cnt_f, &h->start_f, HISTORY_FINE_S, t, obs);
    bucket_add(&h->coarse, &h->acc_c, &h->n_c, h->cnt_c, &h->start_c, HISTORY_COARSE_S, t, obs);
}

static uint32_t span_s(history_range_t r) { return r == HISTORY_1H ? 3600u : r == HISTORY_24H ? 86400u : 7u * 86400u; }

/* The fine ring when it covers the range (on Linux 24 h; a firmware build keeps 1 h of it). */
static bool uses_fine(history_range_t r) { return span_s(r) <= HISTORY_FINE_N * HISTORY_FINE_S; }

uint32_t history_interval_s(history_range_t r) { return uses_fine(r) ? HISTORY_FINE_S : HISTORY_COARSE_S; }

size_t history_max_samples(history_range_t r)
{
    size_t ring = uses_fine(r) ? HISTORY_FINE_N : HISTORY_COARSE_N;
    size_t span = span_s(r) / history_interval_s(r) + 2u;
    return span < ring ? span : ring;
}

size_t history_get(const history_t *h, history_range_t r, uint32_t now_t, history_sample_t *out, size_t cap)
{
    uint32_t span = span_s(r);
    const history_ring_t *ring = uses_fine(r) ? &h->fine : &h->coarse;
    uint32_t from = now_t > span ? now_t - span : 0u;
    size_t n = 0;
    uint32_t first = (ring->head + ring->cap - ring->count) % ring->cap;
    for (uint32_t i = 0; i < ring->count && n < cap; i++) {
        const history_sample_t *s = &ring->buf[(first + i) % ring->cap];
        if (s->t >= from) {
            out[n++] = *s;
        }
    }
    return n;
}

bool history_range_parse(const char *s, history_range_t *out)
{
    if (!s) {
        return false;
    }
    if (strcmp(s, "1h") == 0) {
        *out = HISTORY_1H;
    } else if (strcmp(s, "24h") == 0) {
        *out = HISTORY_24H;
    } else if (strcmp(s, "7d") == 0) {
        *out = HISTORY_7D;
    } else {
        return false;
    }
    return true;
}
