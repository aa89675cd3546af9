/* view_store: where the owner task publishes gw_view_t and the web and WebSocket tasks read it
 * (the twin of ports/linux/view_store.c, on FreeRTOS primitives). One mutex, held only for a
 * memcpy; a reader can wait for the next publication (the WebSocket pusher): publish notifies up
 * to VIEW_STORE_WAITERS waiting tasks directly (task notifications, no polling). Latest-value
 * semantics: a slow reader sees a later view. The owner waits for a reader only while one renders
 * a WebSocket message under the lock (view_store_read: a memcpy or a few kB of JSON). */
#ifndef PORTS_ESP_VIEW_STORE_H
#define PORTS_ESP_VIEW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/gw_view.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#define VIEW_STORE_WAITERS 4

typedef struct {
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    gw_view_t view;
    uint64_t seq;
    TaskHandle_t waiter[VIEW_STORE_WAITERS];
} view_store_t;

void view_store_init(view_store_t *vs);
void view_store_publish(void *vs, const gw_view_t *v);
uint64_t view_store_get(view_store_t *vs, gw_view_t *out);
size_t view_store_get_status(view_store_t *vs, char *buf, size_t cap);
/* Wait until a view newer than `after` exists or timeout_ms passes; copies it into out if so (out
 * may be NULL: only wait). Returns the new seq, or 0 on timeout / shutdown. */
uint64_t view_store_wait(view_store_t *vs, uint64_t after, gw_view_t *out, int timeout_ms);
/* Run fn on the latest view under the lock, without a copy (fn must be quick: the owner's next
 * publication waits for it). Returns fn's result, or -1 if nothing was published yet. */
int view_store_read(view_store_t *vs, int (*fn)(const gw_view_t *v, void *ctx), void *ctx);
#endif
