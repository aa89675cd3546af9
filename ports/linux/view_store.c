#include "ports/linux/view_store.h"
#include "ports/linux/clock.h"

#include <string.h>
#include <time.h>

void view_store_init(view_store_t *vs)
{
    memset(vs, 0, sizeof *vs);
    pthread_mutex_init(&vs->mu, NULL);
    linux_cond_init_monotonic(&vs->changed);
}

void view_store_destroy(view_store_t *vs)
{
    pthread_cond_destroy(&vs->changed);
    pthread_mutex_destroy(&vs->mu);
}

void view_store_publish(void *ctx, const gw_view_t *v)
{
    view_store_t *vs = ctx;
    pthread_mutex_lock(&vs->mu);
    vs->view = *v;
    vs->seq = v->seq;
    pthread_cond_broadcast(&vs->changed);
    pthread_mutex_unlock(&vs->mu);
}

uint64_t view_store_get(view_store_t *vs, gw_view_t *out)
{
    pthread_mutex_lock(&vs->mu);
    uint64_t s = vs->seq;
    if (s) {
        *out = vs->view;
    }
    pthread_mutex_unlock(&vs->mu);
    return s;
}

size_t view_store_get_status(view_store_t *vs, char *buf, size_t cap)
{
    pthread_mutex_lock(&vs->mu);
    size_t n = vs->seq && vs->view.status_len < cap ? vs->view.status_len : 0u;
    if (n) {
        memcpy(buf, vs->view.status_json, n);
        buf[n] = '\0';
    }
    pthread_mutex_unlock(&vs->mu);
    return n;
}

uint64_t view_store_wait(view_store_t *vs, uint64_t after, gw_view_t *out, int timeout_ms)
{
    struct timespec deadline = linux_deadline_ms(timeout_ms);
    pthread_mutex_lock(&vs->mu);
    while (vs->seq <= after && !vs->closing) {
        if (pthread_cond_timedwait(&vs->changed, &vs->mu, &deadline) != 0) {
            break;
        }
    }
    uint64_t s = 0;
    if (vs->seq > after && !vs->closing) {
        *out = vs->view;
        s = vs->seq;
    }
    pthread_mutex_unlock(&vs->mu);
    return s;
}

void view_store_close(view_store_t *vs)
{
    pthread_mutex_lock(&vs->mu);
    vs->closing = true;
    pthread_cond_broadcast(&vs->changed);
    pthread_mutex_unlock(&vs->mu);
}
