#include "ports/linux/http_ws.h"

#include <civetweb.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/api_ws.h"
#include "app/log.h"
#include "app/ws_rx.h"
#include "ports/linux/clock.h"

#define WRITER_STACK (256u * 1024u)
#define LOG_POLL_MS 250u
#define IDLE_WAKE_MS 1000u
#define LOG_BATCH 32u
#define CAN_MSG_MAX (256u * 1024u)
/* Per-client buffering: while more than WS_BACKLOG_MAX bytes wait on the gate's way to the client
 * (http_gate_backlog: the gate keeps the client socket's send buffer at 32 KB) the writer skips
 * updates instead of queueing them. A client whose backlog does not drain for
 * web.request_timeout_ms is disconnected. */
#define WS_BACKLOG_MAX (16 * 1024)
#define CONGESTED_POLL_MS 100u
/* civetweb sends the 101 reply before it calls the ready handler, so a client may open its next
 * connection before the hub has counted the last one. A slot is therefore reserved when the
 * handshake is accepted and handed to the client when it is ready. A reservation that has not
 * turned into a client after this long never will (the handshake write failed): it is released
 * so that it cannot shrink web.ws_max_clients for good. */
#define RESERVE_MS 5000u
/* Keep-alive (civetweb's own ping/pong is off so that ws_rx sees every control frame): a client
 * that has sent nothing for web.request_timeout_ms gets a ping; one silent for
 * (PING_MISSES + 1) times as long is disconnected - the same as civetweb's MG_MAX_UNANSWERED_PING. */
#define PING_MISSES 5u
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
    /* set by the ready callback, then read-only */
    char peer[48];             /* the client's address (from the gate) */
    int up_port;               /* the port civetweb sees it from: the gate's connection (http_gate_*) */
    /* writer thread only */
    bool congested;
    uint32_t congested_since;
    atomic_bool dead;
    atomic_uint_fast32_t last_rx_ms; /* linux_now_ms() of the last frame received */
    uint32_t last_ping_ms;
    /* tx lock: every frame sent (writer: data, reader: pong and close), so that nothing follows
     * the close frame (RFC 6455 5.5.1) */
    pthread_mutex_t tx;
    bool tx_closed;
    /* civetweb's reader thread only */
    ws_rx_t rx;
    char rx_buf[API_WS_CLIENT_MSG_MAX];
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
    http_gate_t *gate;
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
        api_tick(ws->api); /* at least every 250 ms: session expiry, security log summaries */
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

/* ---- the client's connection ---------------------------------------------------------------------------- */

/* Bytes written that the client has not taken yet, on the gate's way to it. */
static size_t backlog(const ws_client_t *c)
{
    return http_gate_backlog(c->ws->gate, c->up_port);
}

static void drop(ws_client_t *c, const char *why)
{
    if (atomic_exchange(&c->dead, true)) {
        return;
    }
    atomic_fetch_add(&c->ws->dropped, 1u);
    LOGI("web", "WebSocket client %s dropped: %s", c->peer[0] ? c->peer : "?", why);
    /* the gate closes both of its sockets: civetweb's reader sees the end of the stream and runs
     * the close callback, and a write blocked on this client fails at once */
    http_gate_close(c->ws->gate, c->up_port);
}

/* ---- writers --------------------------------------------------------------------------------------------- */

static bool send_text(ws_client_t *c, const char *data, size_t len)
{
    if (atomic_load(&c->dead)) {
        return false;
    }
    /* Blocks at most web.request_timeout_ms (civetweb's send timeout) when the client does not read;
     * only this client's writer waits (and its reader, to answer a ping or a close). */
    pthread_mutex_lock(&c->tx);
    int n = c->tx_closed ? 0 : mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_TEXT, data, len);
    bool closed = c->tx_closed;
    pthread_mutex_unlock(&c->tx);
    if (closed) {
        return false;
    }
    if (n <= 0 || (size_t)n < len) {
        drop(c, "send failed or timed out (the client stopped reading)");
        return false;
    }
    atomic_fetch_add(&c->ws->sent, 1u);
    return true;
}

/* A control frame (ping, pong); nothing after the close frame. */
static void send_ctrl(ws_client_t *c, int op, const char *data, size_t len)
{
    pthread_mutex_lock(&c->tx);
    if (!c->tx_closed) {
        (void)mg_websocket_write(c->conn, op, data, len);
    }
    pthread_mutex_unlock(&c->tx);
}

/* The close frame (code 0: without a status code), once; the writer stops. The caller then
 * returns 0 from the data handler, which makes civetweb close the TCP connection. */
static void send_close(ws_client_t *c, uint16_t code, const char *why)
{
    uint8_t p[WS_CONTROL_MAX];
    size_t n = code ? ws_rx_close_payload(p, sizeof p, code, why) : 0u;
    atomic_store(&c->dead, true);
    pthread_mutex_lock(&c->tx);
    if (!c->tx_closed) {
        c->tx_closed = true;
        (void)mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)p, n);
    }
    pthread_mutex_unlock(&c->tx);
}

/* Writer thread: ping a silent client, drop one that stays silent. false if dropped. */
static bool keepalive(ws_client_t *c, uint32_t now)
{
    uint32_t t = (uint32_t)c->ws->timeout_ms;
    uint32_t silent = now - (uint32_t)atomic_load(&c->last_rx_ms);
    if (silent >= t * (PING_MISSES + 1u)) {
        drop(c, "no answer to pings");
        return false;
    }
    if (silent >= t && (uint32_t)(now - c->last_ping_ms) >= t) {
        c->last_ping_ms = now;
        send_ctrl(c, MG_WEBSOCKET_OPCODE_PING, NULL, 0);
    }
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
        if (!keepalive(c, tnow)) {
            break;
        }
        if (backlog(c) > WS_BACKLOG_MAX) {
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

/* Refuse a handshake with an HTTP error, a JSON body as every API error (counted by api_error),
 * instead of a bare close that a browser reports only as "connection failed". */
static void refuse(http_ws_t *ws, const struct mg_connection *cconn, int status, api_reject_t rej, const char *code,
                   const char *reason)
{
    /* civetweb passes the connection as const, but it is the live one and the handler may answer
     * on it: a connect handler that returns 1 leaves the connection to be closed without a reply. */
    struct mg_connection *conn = (struct mg_connection *)(uintptr_t)cconn;
    api_resp_t r;
    memset(&r, 0, sizeof r); /* api_error frees r.heap */
    api_error(ws->api, &r, status, rej, code, NULL, reason);
    if (status == 503) {
        api_add_header(&r, "Retry-After", "5");
    }
    const char *text = mg_get_response_code_text(conn, status);
    char hdr[API_HEADERS_MAX + 256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                      "%.*sConnection: close\r\n\r\n",
                      r.status, text ? text : "", r.content_type ? r.content_type : "application/json", r.len,
                      (int)r.headers_len, r.headers);
    if (hl > 0 && (size_t)hl < sizeof hdr) {
        (void)mg_write(conn, hdr, (size_t)hl);
        (void)mg_write(conn, r.body, r.len);
    }
    api_resp_free(&r);
}

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
    char peer[48];
    if (!ri || !http_gate_peer(ws->gate, ri->remote_addr, ri->remote_port, peer, sizeof peer)) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_CROSS_ORIGIN], 1u);
        LOGW("web", "WebSocket handshake that did not come through gateway.http refused");
        return 1;
    }
    req.peer = peer;
    /* The gate checks the MASK bit of client frames only on a connection that began with this
     * handshake (it holds what the client sends after it until the answer). Browsers and the
     * WebSocket libraries open a connection of its own for each WebSocket. */
    if (!http_gate_ws_handshake(ws->gate, ri->remote_port)) {
        LOGW("web", "WebSocket handshake from %s refused: not the first request of its connection", req.peer);
        refuse(ws, conn, 400, API_REJ_BAD_VALUE, "bad_request",
               "a WebSocket handshake must be the first request on its connection");
        return 1;
    }
    /* Browsers send Origin on every WebSocket handshake: a page of another site may not read the
     * live data through the visitor's browser (cross-site WebSocket hijacking). */
    if (!auth_same_origin(req.host, req.origin, NULL, mg_get_header(conn, "Sec-Fetch-Site"))) {
        LOGW("web", "cross-origin WebSocket from %s refused", req.peer);
        refuse(ws, conn, 403, API_REJ_CROSS_ORIGIN, "cross_origin",
               "the WebSocket handshake's Origin is not this gateway (cross-site WebSocket refused)");
        return 1;
    }
    if (!api_may_read(ws->api, &req)) {
        refuse(ws, conn, 401, API_REJ_UNAUTHENTICATED, "unauthenticated",
               "log in first: the read-only view is closed (web.read_only_open = false)");
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
        LOGW("web", "WebSocket from %s refused: %d clients already (web.ws_max_clients)", req.peer, ws->max_clients);
        refuse(ws, conn, 503, API_REJ_BUSY, "busy", "too many WebSocket clients (web.ws_max_clients); try again later");
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
    c->last_ping_ms = linux_now_ms();
    atomic_init(&c->last_rx_ms, c->last_ping_ms);
    pthread_mutex_init(&c->tx, NULL);
    ws_rx_init(&c->rx, c->rx_buf, sizeof c->rx_buf);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (ri) {
        (void)http_gate_peer(ws->gate, ri->remote_addr, ri->remote_port, c->peer, sizeof c->peer);
        c->up_port = ri->remote_port;
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

/* civetweb's reader thread, once per frame: flags is the frame's first header byte (FIN, RSV1-3,
 * opcode), data its unmasked payload. civetweb 1.15 neither reassembles fragments nor checks the
 * RSV bits, opcodes or control-frame rules, and with enable_websocket_ping_pong off it passes
 * pings and pongs here too: ws_rx applies RFC 6455. Returning 0 makes civetweb close the
 * connection. */
static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cb)
{
    http_ws_t *ws = cb;
    ws_client_t *c = mg_get_user_connection_data(conn);
    if (!c || atomic_load(&c->dead)) {
        return 0;
    }
    atomic_store(&c->last_rx_ms, linux_now_ms());
    /* the MASK bit, which civetweb does not pass on, is checked by the gate (http_gate.h) */
    ws_rx_action_t a = ws_rx_frame(&c->rx, (uint8_t)flags, (const uint8_t *)data, len);
    switch (a) {
    case WS_RX_NONE:
    case WS_RX_PONG:
        return 1;
    case WS_RX_PING:
        send_ctrl(c, MG_WEBSOCKET_OPCODE_PONG, data, len);
        return 1;
    case WS_RX_CLOSE:
        send_close(c, c->rx.code, NULL); /* the answer echoes the client's status code */
        return 0;
    case WS_RX_FAIL: {
        atomic_fetch_add(&ws->api->n.ws_failed[c->rx.err], 1u);
        const struct mg_request_info *ri = mg_get_request_info(conn);
        LOGW("web", "WebSocket client %s closed with %u: %s", ri ? ri->remote_addr : "?", (unsigned)c->rx.code,
             c->rx.why);
        send_close(c, c->rx.code, c->rx.why);
        return 0;
    }
    case WS_RX_TEXT:
        break;
    }
    pthread_mutex_lock(&ws->mu);
    api_ws_sub_t s = c->sub;
    pthread_mutex_unlock(&ws->mu);
    int rc = api_ws_parse(c->rx.buf, c->rx.len, &s);
    if (rc != TB_OK) {
        /* a well-formed message we do not understand: counted and ignored */
        atomic_fetch_add(&ws->api->n.rejected[rc == TB_ERR_RANGE ? API_REJ_BAD_VALUE : API_REJ_BAD_JSON], 1u);
        return 1;
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
    pthread_mutex_destroy(&c->tx);
    free(c->logbuf);
    free(c->logmsg);
    free(c);
}

/* ---- life cycle --------------------------------------------------------------------------------------------- */

http_ws_t *http_ws_start(struct mg_context *ctx, view_store_t *views, api_t *api, int max_clients, int timeout_ms,
                         const char *version, http_gate_t *gate)
{
    http_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws) {
        return NULL;
    }
    pthread_mutex_init(&ws->mu, NULL);
    linux_cond_init_monotonic(&ws->cond);
    ws->views = views;
    ws->api = api;
    ws->gate = gate;
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
