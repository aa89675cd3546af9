#include "history_store.h"

void history_store_init(history_store_t *hs)
{
    hs->mu = xSemaphoreCreateMutexStatic(&hs->mu_buf);
    history_init(&hs->h);
}

void history_store_add(void *ctx, uint32_t wall_s, const history_sample_t *obs)
{
    history_store_t *hs = ctx;
    xSemaphoreTake(hs->mu, portMAX_DELAY);
    history_add(&hs->h, wall_s, obs);
    xSemaphoreGive(hs->mu);
}

size_t history_store_get(history_store_t *hs, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap)
{
    xSemaphoreTake(hs->mu, portMAX_DELAY);
    size_t n = history_get(&hs->h, r, now_s, out, cap);
    xSemaphoreGive(hs->mu);
    return n;
}
