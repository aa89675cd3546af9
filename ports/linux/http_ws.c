#include "ports/linux/http_ws.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <errno.h>
#include <linux/sockios.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/api_ws.h"
#include "app/log.h"
#include "ports/linux/clock.h"

#define WRITER_STACK (256u * 1024u)
#define LOG_POLL_MS 250u
#define IDLE_WAKE_MS 1000u
#define LOG_BATCH 32u
#define CAN_MSG_MAX (256u * 1024u)
/* Per-client buffering: the kernel keeps at most about this much for a client (SO_SNDBUF; Linux
 * doubles it), and while more than WS_BACKLOG_MAX bytes wait unsent the writer skips updates
 * instead of queueing them. A client whose backlog does not drain for web.request_timeout_ms is
 * disconnected. */
#define WS_SNDBUF (32 * 1024)
#define WS_BACKLOG_MAX (16 * 1024)
#define CONGESTED_POLL_MS 100u
/* civetweb sends the 101 reply before it calls the ready handler, so a client may open its next
 * connection before the hub has counted the last one. A slot is therefore reserved when the
 * handshake is accepted and handed to the client when it is ready. A reservation that has not
 * turned into a client after this long never will (the handshake write failed): it is released
 * so that it cannot shrink web.ws_max_clients for good. */
#define RESERVE_MS 5000u
/* Every TRIM_MS the hub gives the pages of free heap memory back to the kernel (malloc_trim).
 * Requests, WebSocket connections and the messages rendered for them allocate and free buffers of
 * a few to 76 kB all the time; a free chunk keeps the pages it was touched in, and which free chunk
 * the next buffer lands in varies, so free memory slowly becomes resident (about 200 kB returned
 * by one trim after five minutes with 200 clients, issue 16). The trim took 0.2-3 ms on the hub
 * thread, which only renders WebSocket messages (docs/performance.md "Memory under WebSocket
 * load"). */
#define TRIM_MS 30000u

/* An immutable message shared by every writer that sends it. */
typedef struct {
    atomic_int refs;
    size_t len;
    char data[];
} ws_msg_t;

typedef struct ws_client {
    http_ws_t *ws;
    struct mg_connection *conn;
    pthread_t thr;
    bool thr_started;
    /* hub lock */
    api_ws_sub_t sub;
    bool closing;
    struct ws_client *next;
    /* writer thread only */
    int fd;                    /* the connection's socket (found by address), -1 if unknown */
    bool congested;
    uint32_t congested_since;
    atomic_bool dead;
    uint64_t status_sent, events_sent, can_sent;
    uint64_t log_seq;
    api_ws_rate_t status_rate, can_rate;
    log_entry_t *logbuf;
    char *logmsg;
    size_t logmsg_cap;
} ws_client_t;

struct http_ws {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    view_store_t *views;
    api_t *api;
    char version[32];
    int max_clients;
    /* hub lock */
    ws_msg_t *status, *events, *can;
    uint64_t status_seq, event_seq, can_seq;
    int can_subs;
    bool stopping;
    ws_client_t *clients;
    int nclients;
    int reserved;              /* handshakes accepted, clients not ready yet */
    uint32_t reserved_at;      /* linux_now_ms() of the newest reservation */
    int timeout_ms;            /* web.request_timeout_ms */
    /* hub thread */
    pthread_t hub;
    bool hub_started;
    atomic_uint_fast64_t sent, skipped, dropped;
};

/* ---- messages ---------------------------------------------------------------------------------------- */

static ws_msg_t *msg_new(size_t cap)
{
    ws_msg_t *m = malloc(sizeof *m + cap);
    if (m) {
        atomic_init(&m->refs, 1);
        m->len = 0;
    }
    return m;
}

static ws_msg_t *msg_ref(ws_msg_t *m)
{
    if (m) {
        atomic_fetch_add(&m->refs, 1);
    }
    return m;
}

static void msg_unref(ws_msg_t *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
        free(m);
    }
}

typedef int (*msg_render_fn)(char *buf, size_t cap, const gw_view_t *v);

/* Render into a new message, growing the buffer until it fits (or max). */
static ws_msg_t *render_msg(msg_render_fn fn, const gw_view_t *v, size_t cap, size_t max)
{
    for (;;) {
        ws_msg_t *m = msg_new(cap);
        if (!m) {
            return NULL;
        }
        int n = fn(m->data, cap, v);
        if (n >= 0) {
            m->len = (size_t)n;
            api_ws_utf8_sanitize(m->data, m->len);
            return m;
        }
        msg_unref(m);
        if (n != TB_ERR_NOSPACE || cap >= max) {
            return NULL;
        }
        cap *= 2u;
    }
}

static int render_status(char *buf, size_t cap, const gw_view_t *v)
{
    return api_ws_status(buf, cap, v->status_json, v->status_len);
}

/* ---- hub thread ------------------------------------------------------------------------------------------ */

static void timed_wait(pthread_cond_t *c, pthread_mutex_t *mu, uint32_t ms)
{
    struct timespec ts = linux_deadline_ms((int)ms);
    (void)pthread_cond_timedwait(c, mu, &ts);
}

static bool stopping(http_ws_t *ws)
{
    pthread_mutex_lock(&ws->mu);
    bool s = ws->stopping;
    pthread_mutex_unlock(&ws->mu);
    return s;
}

static void *hub_main(void *p)
{
    http_ws_t *ws = p;
    gw_view_t *v = malloc(sizeof *v);
    if (!v) {
        LOGE("web", "WebSocket hub: out of memory; live updates disabled");
        return NULL;
    }
    uint64_t seq = 0;
    uint32_t cfg_version = 0;
    uint32_t event_seq = 0;
    uint32_t trimmed = linux_now_ms();
    while (!stopping(ws)) {
        if ((uint32_t)(linux_now_ms() - trimmed) >= TRIM_MS) {
            trimmed = linux_now_ms();
#ifdef __GLIBC__
            (void)malloc_trim(0);
#endif
        }
        uint64_t s = view_store_wait(ws->views, seq, v, 250);
        if (s == 0) {
            continue;
        }
        seq = s;
        if (v->config_version != cfg_version) {
            cfg_version = v->config_version;
            api_set_web_cfg(ws->api, &v->cfg.web);
        }
        pthread_mutex_lock(&ws->mu);
        bool anyone = ws->nclients > 0;
        if (!anyone) {
            /* nobody listens: drop the last messages, render nothing (a new client waits for the
             * next view, at most a second) */
            msg_unref(ws->status);
            msg_unref(ws->can);
            msg_unref(ws->events);
            ws->status = ws->can = ws->events = NULL;
            ws->status_seq = ws->can_seq = 0;
            ws->event_seq = v->event_seq; /* a client that connects later gets only newer events */
        }
        pthread_mutex_unlock(&ws->mu);
        bool new_events = v->event_seq != event_seq && v->recent_count;
        event_seq = v->event_seq;
        if (!anyone) {
            continue;
        }
        ws_msg_t *st = render_msg(render_status, v, v->status_len + 64u, GW_STATUS_JSON_MAX + 64u);
        ws_msg_t *ev = new_events ? render_msg(api_ws_events, v, 4096u, 65536u) : NULL;
        pthread_mutex_lock(&ws->mu);
        int can_subs = ws->can_subs;
        pthread_mutex_unlock(&ws->mu);
        ws_msg_t *cn = can_subs > 0 ? render_msg(api_ws_can, v, 16384u, CAN_MSG_MAX) : NULL;

        pthread_mutex_lock(&ws->mu);
        ws_msg_t *old[3] = {NULL, NULL, NULL};
        if (st) {
            old[0] = ws->status;
            ws->status = st;
            ws->status_seq = s;
        }
        if (ev) {
            old[1] = ws->events;
            ws->events = ev;
            ws->event_seq = v->event_seq;
        }
        if (cn) {
            old[2] = ws->can;
            ws->can = cn;
            ws->can_seq = s;
        }
        pthread_cond_broadcast(&ws->cond);
        pthread_mutex_unlock(&ws->mu);
        for (unsigned i = 0; i < 3u; i++) {
            msg_unref(old[i]);
        }
    }
    free(v);
    return NULL;
}

/* ---- the client's socket ------------------------------------------------------------------------------- */

/* civetweb does not expose a connection's socket; find it among our descriptors by the peer's
 * address and port (unique while the connection is open). -1 if not found. */
static int find_socket(const struct mg_request_info *ri)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        return -1;
    }
    int found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        struct stat st;
        if (!end || *end != '\0' || fd < 0 || fd == dirfd(d) || fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getpeername((int)fd, (struct sockaddr *)&ss, &len) != 0) {
            continue;
        }
        char addr[INET6_ADDRSTRLEN] = "";
        int port = -1;
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
            port = ntohs(a->sin6_port);
        }
        if (port == ri->remote_port && strcmp(addr, ri->remote_addr) == 0) {
            found = (int)fd;
        }
    }
    closedir(d);
    return found;
}

/* Bytes written to the socket that the client has not acknowledged yet. */
static int backlog(int fd)
{
    int n = 0;
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0) {
        return 0;
    }
    return n;
}

static void drop(ws_client_t *c, const char *why)
{
    if (atomic_exchange(&c->dead, true)) {
        return;
    }
    atomic_fetch_add(&c->ws->dropped, 1u);
    const struct mg_request_info *ri = mg_get_request_info(c->conn);
    LOGI("web", "WebSocket client %s dropped: %s", ri ? ri->remote_addr : "?", why);
    if (c->fd >= 0) {
        /* civetweb's reader sees the end of the stream and runs the close callback; the descriptor
         * itself stays civetweb's to close */
        shutdown(c->fd, SHUT_RDWR);
    }
}

/* ---- writers --------------------------------------------------------------------------------------------- */

static bool send_text(ws_client_t *c, const char *data, size_t len)
{
    if (atomic_load(&c->dead)) {
        return false;
    }
    /* Blocks at most web.request_timeout_ms (civetweb's send timeout) when the client does not read;
     * only this client's writer waits. */
    int n = mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_TEXT, data, len);
    if (n <= 0 || (size_t)n < len) {
        drop(c, "send failed or timed out (the client stopped reading)");
        return false;
    }
    atomic_fetch_add(&c->ws->sent, 1u);
    return true;
}

static void send_logs(ws_client_t *c, uint8_t level)
{
    if (!c->logbuf) {
        c->logbuf = malloc(LOG_BATCH * sizeof *c->logbuf);
        c->logmsg_cap = LOG_BATCH * (LOG_MSG_MAX * 2u + 128u) + 128u;
        c->logmsg = malloc(c->logmsg_cap);
        if (!c->logbuf || !c->logmsg) {
            return;
        }
    }
    for (int rounds = 0; rounds < 4; rounds++) {
        size_t n = log_read(c->log_seq, c->logbuf, LOG_BATCH);
        if (n == 0) {
            return;
        }
        c->log_seq = c->logbuf[n - 1u].seq;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (c->logbuf[i].level <= level) {
                c->logbuf[k++] = c->logbuf[i];
            }
        }
        if (k) {
            int len = api_ws_log(c->logmsg, c->logmsg_cap, c->logbuf, k, c->log_seq);
            if (len > 0) {
                api_ws_utf8_sanitize(c->logmsg, (size_t)len);
                if (!send_text(c, c->logmsg, (size_t)len)) {
                    return;
                }
            }
        }
        if (n < LOG_BATCH) {
            return;
        }
    }
}

static void *writer_main(void *p)
{
    ws_client_t *c = p;
    http_ws_t *ws = c->ws;
    char hello[256];
    api_ws_sub_t sub;
    pthread_mutex_lock(&ws->mu);
    sub = c->sub;
    pthread_mutex_unlock(&ws->mu);
    int hl = api_ws_hello(hello, sizeof hello, ws->version, atomic_load(&ws->api->ws_rate_hz), &sub);
    if (hl > 0) {
        send_text(c, hello, (size_t)hl);
    }
    c->log_seq = log_last_seq(); /* a live tail from now on; GET /api/logs has the past */
    uint32_t last_log_poll = linux_now_ms();
    while (!atomic_load(&c->dead)) {
        ws_msg_t *take[3] = {NULL, NULL, NULL};
        /* latest value: while the client has not taken what it was sent, send nothing new */
        uint32_t tnow = linux_now_ms();
        if (backlog(c->fd) > WS_BACKLOG_MAX) {
            if (!c->congested) {
                c->congested = true;
                c->congested_since = tnow;
            } else if ((uint32_t)(tnow - c->congested_since) >= (uint32_t)ws->timeout_ms) {
                drop(c, "it stopped reading");
                break;
            }
            pthread_mutex_lock(&ws->mu);
            if (!ws->stopping && !c->closing) {
                timed_wait(&ws->cond, &ws->mu, CONGESTED_POLL_MS);
            }
            bool quit = ws->stopping || c->closing;
            pthread_mutex_unlock(&ws->mu);
            if (quit) {
                break;
            }
            continue;
        }
        c->congested = false;
        pthread_mutex_lock(&ws->mu);
        if (ws->stopping || c->closing) {
            pthread_mutex_unlock(&ws->mu);
            break;
        }
        uint32_t now = linux_now_ms();
        int rate = atomic_load(&ws->api->ws_rate_hz);
        uint32_t interval = 1000u / (uint32_t)(rate > 0 ? rate : 1);
        bool w_status = c->sub.status && ws->status && ws->status_seq != c->status_sent;
        bool w_can = c->sub.can && ws->can && ws->can_seq != c->can_sent;
        bool w_events = c->sub.events && ws->events && ws->event_seq != c->events_sent;
        uint32_t wait_status = api_ws_rate_wait(&c->status_rate, now, interval);
        uint32_t wait_can = api_ws_rate_wait(&c->can_rate, now, interval);
        bool due = (w_status && wait_status == 0u) || (w_can && wait_can == 0u) || w_events;
        bool log_due = c->sub.log && (uint32_t)(now - last_log_poll) >= LOG_POLL_MS;
        if (!due && !log_due) {
            uint32_t wait = c->sub.log ? LOG_POLL_MS : IDLE_WAKE_MS;
            if (w_status && wait_status < wait) {
                wait = wait_status;
            }
            if (w_can && wait_can < wait) {
                wait = wait_can;
            }
            timed_wait(&ws->cond, &ws->mu, wait ? wait : 1u);
            pthread_mutex_unlock(&ws->mu);
            continue;
        }
        if (w_status && wait_status == 0u) {
            if (c->status_sent && ws->status_seq > c->status_sent + 1u) {
                atomic_fetch_add(&ws->skipped, ws->status_seq - c->status_sent - 1u);
            }
            take[0] = msg_ref(ws->status);
            c->status_sent = ws->status_seq;
            api_ws_rate_sent(&c->status_rate, now, interval);
        }
        if (w_events) {
            take[1] = msg_ref(ws->events);
            c->events_sent = ws->event_seq;
        }
        if (w_can && wait_can == 0u) {
            take[2] = msg_ref(ws->can);
            c->can_sent = ws->can_seq;
            api_ws_rate_sent(&c->can_rate, now, interval);
        }
        sub = c->sub;
        pthread_mutex_unlock(&ws->mu);

        /* no lock held from here: a slow socket delays only this client */
        for (unsigned i = 0; i < 3u; i++) {
            if (take[i]) {
                send_text(c, take[i]->data, take[i]->len);
                msg_unref(take[i]);
            }
        }
        if (sub.log && (uint32_t)(linux_now_ms() - last_log_poll) >= LOG_POLL_MS) {
            last_log_poll = linux_now_ms();
            send_logs(c, sub.log_level);
        }
    }
    return NULL;
}

/* ---- civetweb callbacks ------------------------------------------------------------------------------------ */

static int ws_connect(const struct mg_connection *conn, void *cb)
{
    http_ws_t *ws = cb;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    api_req_t req;
    memset(&req, 0, sizeof req);
    req.method = API_GET;
    req.path = "/ws";
    req.host = mg_get_header(conn, "Host");
    req.origin = mg_get_header(conn, "Origin");
    req.cookie = mg_get_header(conn, "Cookie");
    req.peer = ri ? ri->remote_addr : "";
    /* Browsers send Origin on every WebSocket handshake: a page of another site may not read the
     * live data through the visitor's browser (cross-site WebSocket hijacking). */
    if (!auth_same_origin(req.host, req.origin, NULL, mg_get_header(conn, "Sec-Fetch-Site"))) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_CROSS_ORIGIN], 1u);
        LOGW("web", "cross-origin WebSocket from %s refused", req.peer);
        return 1;
    }
    if (!api_may_read(ws->api, &req)) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_UNAUTHENTICATED], 1u);
        return 1;
    }
    pthread_mutex_lock(&ws->mu);
    uint32_t now = linux_now_ms();
    if (ws->reserved > 0 && (uint32_t)(now - ws->reserved_at) >= RESERVE_MS) {
        LOGW("web", "%d WebSocket handshake(s) never became ready; their slots are released", ws->reserved);
        ws->reserved = 0;
    }
    bool full = ws->nclients + ws->reserved >= ws->max_clients || ws->stopping;
    if (!full) {
        ws->reserved++;
        ws->reserved_at = now;
    }
    pthread_mutex_unlock(&ws->mu);
    if (full) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_BUSY], 1u);
        LOGW("web", "WebSocket from %s refused: %d clients already (web.ws_max_clients)", req.peer, ws->max_clients);
        return 1;
    }
    return 0;
}

/* Hub lock held: the handshake that reserved a slot in ws_connect is ready (or gave up). */
static void unreserve(http_ws_t *ws)
{
    if (ws->reserved > 0) {
        ws->reserved--;
    }
}

static void ws_ready(struct mg_connection *conn, void *cb)
{
    http_ws_t *ws = cb;
    ws_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        pthread_mutex_lock(&ws->mu);
        unreserve(ws);
        pthread_mutex_unlock(&ws->mu);
        return;
    }
    c->ws = ws;
    c->conn = conn;
    atomic_init(&c->dead, false);
    c->fd = find_socket(mg_get_request_info(conn));
    if (c->fd >= 0) {
        int sz = WS_SNDBUF;
        (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    api_ws_sub_default(&c->sub);
    pthread_mutex_lock(&ws->mu);
    c->events_sent = ws->event_seq; /* only events that arrive from now on */
    c->next = ws->clients;
    ws->clients = c;
    ws->nclients++;
    unreserve(ws);
    pthread_mutex_unlock(&ws->mu);
    mg_set_user_connection_data(conn, c);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, WRITER_STACK);
    int rc = pthread_create(&c->thr, &at, writer_main, c);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        LOGE("web", "cannot start a WebSocket writer: %s", strerror(rc));
        atomic_store(&c->dead, true);
    } else {
        c->thr_started = true;
    }
}

static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cb)
{
    http_ws_t *ws = cb;
    ws_client_t *c = mg_get_user_connection_data(conn);
    int op = flags & 0x0f;
    if (!c || op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE || atomic_load(&c->dead)) {
        return 0;
    }
    if (op == MG_WEBSOCKET_OPCODE_PING || op == MG_WEBSOCKET_OPCODE_PONG) {
        return 1;
    }
    if (op != MG_WEBSOCKET_OPCODE_TEXT) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_BAD_JSON], 1u);
        return 1;
    }
    pthread_mutex_lock(&ws->mu);
    api_ws_sub_t s = c->sub;
    pthread_mutex_unlock(&ws->mu);
    int rc = api_ws_parse(data, len, &s);
    if (rc != TB_OK) {
        atomic_fetch_add(&ws->api->n.rejected[rc == TB_ERR_RANGE ? API_REJ_BAD_VALUE : API_REJ_BAD_JSON], 1u);
        return rc == TB_ERR_TOO_LARGE ? 0 : 1;
    }
    pthread_mutex_lock(&ws->mu);
    ws->can_subs += (s.can ? 1 : 0) - (c->sub.can ? 1 : 0);
    c->sub = s;
    pthread_cond_broadcast(&ws->cond);
    pthread_mutex_unlock(&ws->mu);
    return 1;
}

static void ws_close(const struct mg_connection *conn, void *cb)
{
    http_ws_t *ws = cb;
    ws_client_t *c = mg_get_user_connection_data(conn);
    if (!c) {
        return;
    }
    pthread_mutex_lock(&ws->mu);
    c->closing = true;
    if (c->sub.can) {
        ws->can_subs--;
    }
    for (ws_client_t **pp = &ws->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    ws->nclients--;
    pthread_cond_broadcast(&ws->cond);
    pthread_mutex_unlock(&ws->mu);
    if (c->thr_started) {
        pthread_join(c->thr, NULL);
    }
    mg_set_user_connection_data(conn, NULL);
    free(c->logbuf);
    free(c->logmsg);
    free(c);
}

/* ---- life cycle --------------------------------------------------------------------------------------------- */

http_ws_t *http_ws_start(struct mg_context *ctx, view_store_t *views, api_t *api, int max_clients, int timeout_ms,
                         const char *version)
{
    http_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws) {
        return NULL;
    }
    pthread_mutex_init(&ws->mu, NULL);
    linux_cond_init_monotonic(&ws->cond);
    ws->views = views;
    ws->api = api;
    ws->max_clients = max_clients;
    ws->timeout_ms = timeout_ms;
    snprintf(ws->version, sizeof ws->version, "%s", version ? version : "");
    atomic_init(&ws->sent, 0u);
    atomic_init(&ws->skipped, 0u);
    atomic_init(&ws->dropped, 0u);
    int rc = pthread_create(&ws->hub, NULL, hub_main, ws);
    if (rc != 0) {
        LOGE("web", "cannot start the WebSocket hub: %s", strerror(rc));
        pthread_cond_destroy(&ws->cond);
        pthread_mutex_destroy(&ws->mu);
        free(ws);
        return NULL;
    }
    ws->hub_started = true;
    mg_set_websocket_handler(ctx, "/ws", ws_connect, ws_ready, ws_data, ws_close, ws);
    return ws;
}

void http_ws_shutdown(http_ws_t *ws)
{
    if (!ws) {
        return;
    }
    pthread_mutex_lock(&ws->mu);
    ws->stopping = true;
    pthread_cond_broadcast(&ws->cond);
    pthread_mutex_unlock(&ws->mu);
    if (ws->hub_started) {
        pthread_join(ws->hub, NULL);
        ws->hub_started = false;
    }
}

void http_ws_free(http_ws_t *ws)
{
    if (!ws) {
        return;
    }
    msg_unref(ws->status);
    msg_unref(ws->events);
    msg_unref(ws->can);
    pthread_cond_destroy(&ws->cond);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

void http_ws_stats(http_ws_t *ws, uint32_t *clients, uint64_t *sent, uint64_t *skipped, uint64_t *dropped)
{
    if (!ws) {
        return;
    }
    pthread_mutex_lock(&ws->mu);
    *clients = (uint32_t)(ws->nclients > 0 ? ws->nclients : 0);
    pthread_mutex_unlock(&ws->mu);
    *sent = atomic_load(&ws->sent);
    *skipped = atomic_load(&ws->skipped);
    *dropped = atomic_load(&ws->dropped);
}
