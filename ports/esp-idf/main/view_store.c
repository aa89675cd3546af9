#include "view_store.h"

#include <string.h>

void view_store_init(view_store_t *vs)
{
    memset(vs, 0, sizeof *vs);
    vs->mu = xSemaphoreCreateMutexStatic(&vs->mu_buf);
}

void view_store_publish(void *ctx, const gw_view_t *v)
{
    view_store_t *vs = ctx;
    xSemaphoreTake(vs->mu, portMAX_DELAY);
    memcpy(&vs->view, v, sizeof *v);
    vs->seq = v->seq;
    for (int i = 0; i < VIEW_STORE_WAITERS; i++) {
        if (vs->waiter[i]) {
            xTaskNotifyGive(vs->waiter[i]);
        }
    }
    xSemaphoreGive(vs->mu);
}

uint64_t view_store_get(view_store_t *vs, gw_view_t *out)
{
    xSemaphoreTake(vs->mu, portMAX_DELAY);
    uint64_t s = vs->seq;
    if (s) {
        memcpy(out, &vs->view, sizeof *out);
    }
    xSemaphoreGive(vs->mu);
    return s;
}

size_t view_store_get_status(view_store_t *vs, char *buf, size_t cap)
{
    xSemaphoreTake(vs->mu, portMAX_DELAY);
    size_t n = vs->seq && vs->view.status_len < cap ? vs->view.status_len : 0u;
    if (n) {
        memcpy(buf, vs->view.status_json, n);
        buf[n] = '\0';
    }
    xSemaphoreGive(vs->mu);
    return n;
}

uint64_t view_store_wait(view_store_t *vs, uint64_t after, gw_view_t *out, int timeout_ms)
{
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    TickType_t start = xTaskGetTickCount(), span = pdMS_TO_TICKS(timeout_ms > 0 ? timeout_ms : 0);
    uint64_t s = 0;
    int slot = -1;
    for (;;) {
        xSemaphoreTake(vs->mu, portMAX_DELAY);
        if (vs->seq > after) {
            if (out) {
                memcpy(out, &vs->view, sizeof *out);
            }
            s = vs->seq;
        }
        if (s) {
            if (slot >= 0) {
                vs->waiter[slot] = NULL;
            }
            xSemaphoreGive(vs->mu);
            return s;
        }
        if (slot < 0) {
            for (int i = 0; i < VIEW_STORE_WAITERS && slot < 0; i++) {
                if (!vs->waiter[i]) {
                    vs->waiter[i] = me;
                    slot = i;
                }
            }
        }
        xSemaphoreGive(vs->mu);
        TickType_t spent = xTaskGetTickCount() - start;
        if (spent >= span) {
            break;
        }
        /* no free waiter slot: look again every 20 ms */
        (void)ulTaskNotifyTake(pdTRUE, slot >= 0 ? span - spent : pdMS_TO_TICKS(20));
    }
    xSemaphoreTake(vs->mu, portMAX_DELAY);
    if (slot >= 0) {
        vs->waiter[slot] = NULL;
    }
    xSemaphoreGive(vs->mu);
    return 0;
}

int view_store_read(view_store_t *vs, int (*fn)(const gw_view_t *v, void *ctx), void *ctx)
{
    xSemaphoreTake(vs->mu, portMAX_DELAY);
    int r = vs->seq ? fn(&vs->view, ctx) : -1;
    xSemaphoreGive(vs->mu);
    return r;
}
