#include "ports/linux/ws_wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "app/ws_rx.h"

typedef struct {
    int fd1;                   /* the descriptor + 1; 0: free (static storage starts free) */
    ws_rx_scan_t scan;
} wire_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static wire_t g_wire[WS_WIRE_MAX];
static atomic_int g_watched;   /* entries in use: recv() skips the lock while there are none */

/* The entry of fd, or with fd = -1 a free one; NULL if none. Lock held. */
static wire_t *find(int fd)
{
    for (size_t i = 0; i < WS_WIRE_MAX; i++) {
        if (g_wire[i].fd1 == fd + 1) {
            return &g_wire[i];
        }
    }
    return NULL;
}

bool ws_wire_watch(int fd)
{
    if (fd < 0) {
        return false;
    }
    pthread_mutex_lock(&g_mu);
    wire_t *w = find(fd);
    if (!w) {
        w = find(-1);
        if (w) {
            w->fd1 = fd + 1;
            atomic_fetch_add(&g_watched, 1);
        }
    }
    if (w) {
        ws_rx_scan_init(&w->scan);
    }
    pthread_mutex_unlock(&g_mu);
    return w != NULL;
}

void ws_wire_unwatch(int fd)
{
    pthread_mutex_lock(&g_mu);
    wire_t *w = fd >= 0 ? find(fd) : NULL;
    if (w) {
        w->fd1 = 0;
        atomic_fetch_sub(&g_watched, 1);
    }
    pthread_mutex_unlock(&g_mu);
}

bool ws_wire_unmasked(int fd)
{
    pthread_mutex_lock(&g_mu);
    wire_t *w = fd >= 0 ? find(fd) : NULL;
    bool u = w && w->scan.unmasked;
    pthread_mutex_unlock(&g_mu);
    return u;
}

/* Interposes the C library's recv() for the whole process (see the header): same contract,
 * done with recvfrom(2); errno is left as recvfrom set it. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
    if (n > 0 && fd >= 0 && !(flags & MSG_PEEK) && atomic_load(&g_watched) > 0) {
        pthread_mutex_lock(&g_mu);
        wire_t *w = find(fd);
        if (w) {
            ws_rx_scan(&w->scan, buf, (size_t)n);
        }
        pthread_mutex_unlock(&g_mu);
    }
    return n;
}
