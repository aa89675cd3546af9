/* history_store: the history rings (app/history.h, sized for the firmware by the tinybms_app
 * component: 1 h of 30 s samples, 7 d of 30 min ones) behind a mutex (the twin of
 * ports/linux/history_store.c). */
#ifndef PORTS_ESP_HISTORY_STORE_H
#define PORTS_ESP_HISTORY_STORE_H

#include "app/history.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"

typedef struct {
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    history_t h;
} history_store_t;

void history_store_init(history_store_t *hs);
void history_store_add(void *hs, uint32_t wall_s, const history_sample_t *obs);
size_t history_store_get(history_store_t *hs, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap);
#endif
