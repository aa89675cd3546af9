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

void history_add(history_t *h, uint32_t t, const history_sample_t *obs)
{
    if (h->n_f == 0u || t < h->start_f) {
        memset(&h->acc_f, 0, sizeof h->acc_f);
        memset(h->cnt_f, 0, sizeof h->cnt_f);
        h->n_f = 0;
        h->start_f = t;
    }
    if (h->n_c == 0u || t < h->start_c) {
        memset(&h->acc_c, 0, sizeof h->acc_c);
        memset(h->cnt_c, 0, sizeof h->cnt_c);
        h->n_c = 0;
        h->start_c = t;
    }
    acc_add(&h->acc_f, &h->n_f, obs, h->cnt_f);
    acc_add(&h->acc_c, &h->n_c, obs, h->cnt_c);
    if (t - h->start_f >= HISTORY_FINE_S) {
        history_sample_t s;
        acc_close(&h->acc_f, h->cnt_f, t, &s);
        ring_push(&h->fine, &s);
        h->n_f = 0;
    }
    if (t - h->start_c >= HISTORY_COARSE_S) {
        history_sample_t s;
        acc_close(&h->acc_c, h->cnt_c, t, &s);
        ring_push(&h->coarse, &s);
        h->n_c = 0;
    }
}

size_t history_get(const history_t *h, history_range_t r, uint32_t now_t, history_sample_t *out, size_t cap)
{
    const history_ring_t *ring = r == HISTORY_7D ? &h->coarse : &h->fine;
    uint32_t span = r == HISTORY_1H ? 3600u : r == HISTORY_24H ? 86400u : 7u * 86400u;
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
