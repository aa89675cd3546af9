/* view_store: where the owner thread publishes gw_view_t and the web, WebSocket, MQTT and
 * metrics threads read it. One mutex, held only for a memcpy (~20 KB, microseconds); readers can
 * also wait for the next publication (WebSocket and MQTT pushers). Latest-value semantics: a
 * reader that is slow simply sees a later view; nothing queues up and the owner never waits. */
#ifndef PORTS_LINUX_VIEW_STORE_H
#define PORTS_LINUX_VIEW_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/gw_view.h"

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t changed;
    gw_view_t view;
    uint64_t seq;   /* 0 until the first publication */
    bool closing;
} view_store_t;

void view_store_init(view_store_t *vs);
void view_store_destroy(view_store_t *vs);
/* Owner: publish (copies *v). Matches gw_ports_t.publish. */
void view_store_publish(void *vs, const gw_view_t *v);
/* Reader: copy the latest view; returns its seq (0: nothing published yet, *out untouched). */
uint64_t view_store_get(view_store_t *vs, gw_view_t *out);
/* Reader: copy only the pre-rendered status JSON (GET /api/status serves it as is, without copying
 * the whole view). Returns its length, or 0 if nothing was published yet or cap is too small. */
size_t view_store_get_status(view_store_t *vs, char *buf, size_t cap);
/* Reader: wait until a view newer than `after` exists or timeout_ms passes; copies it if so.
 * Returns the new seq, or 0 on timeout / shutdown. */
uint64_t view_store_wait(view_store_t *vs, uint64_t after, gw_view_t *out, int timeout_ms);
/* Wake every waiter for shutdown. */
void view_store_close(view_store_t *vs);

#endif
