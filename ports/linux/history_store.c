#include "ports/linux/history_store.h"

void history_store_init(history_store_t *hs)
{
    pthread_mutex_init(&hs->mu, NULL);
    history_init(&hs->h);
}

void history_store_add(void *ctx, uint32_t wall_s, const history_sample_t *obs)
{
    history_store_t *hs = ctx;
    pthread_mutex_lock(&hs->mu);
    history_add(&hs->h, wall_s, obs);
    pthread_mutex_unlock(&hs->mu);
}

size_t history_store_get(history_store_t *hs, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap)
{
    pthread_mutex_lock(&hs->mu);
    size_t n = history_get(&hs->h, r, now_s, out, cap);
    pthread_mutex_unlock(&hs->mu);
    return n;
}
