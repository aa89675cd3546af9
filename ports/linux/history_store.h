/* history_store: the history rings (app/history.h) behind a mutex: the owner thread adds one
 * observation per second, the web threads copy ranges out. */
#ifndef PORTS_LINUX_HISTORY_STORE_H
#define PORTS_LINUX_HISTORY_STORE_H

#include <pthread.h>

#include "app/history.h"

typedef struct {
    pthread_mutex_t mu;
    history_t h;
} history_store_t;

void history_store_init(history_store_t *hs);
/* Matches gw_ports_t.history_add. */
void history_store_add(void *hs, uint32_t wall_s, const history_sample_t *obs);
size_t history_store_get(history_store_t *hs, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap);

#endif
