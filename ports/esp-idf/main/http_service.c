#include "http_service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "app/auth.h"
#include "app/conn_budget.h"
#include "app/log.h"
#include "app/netaddr.h"
#include "clock.h"
#include "core/tb_err.h"
#include "http_auth.h"
#include "http_ws.h"
#include "ota.h"
#include "esp_heap_caps.h"
#include "health.h"
#include "freertos/task.h"
#include "lwip/sockets.h"
#include "sdkconfig.h"
#if CONFIG_TB_NET_WIFI
#include "wifi.h"
#else
#define WIFI_HTTP_HANDLERS 0
#endif

/* The UI, generated from web/ at build time (web/embed.cmake). */
extern const api_asset_t webui_assets[];
extern const size_t webui_asset_count;

#define SERVER_STACK 7168u      /* 3.8 kB used after login (PBKDF2) and a configuration save: docs/performance.md */
#define HDR_VALUE_MAX 512u
#define PUSH_MS 2000u           /* a WebSocket update must be taken by the client within this */
#define LONE_SEND_MS 1000u      /* a send outside any request (an error reply before a handler) */
#define NOTE_EVERY_MS 10000u    /* slow-client log lines: at most one per this, with a count */
#define GUARDS_MAX 24

typedef struct {
    int fd;                     /* 0: free */
    char peer[48];
    conn_budget_t b;            /* where it is and how long it may still make the task wait */
} conn_t;

typedef struct {
    http_service_t *s;
    esp_err_t (*fn)(httpd_req_t *req);
    void *ctx;
} guard_t;

struct http_service {
    gw_services_t svc;
    httpd_handle_t hd;
    http_auth_port_t auth_port;
    auth_t auth;
    api_t api;
    http_ws_t *ws;
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    bool enabled, listening;
    /* ---- the server task only ----
     * open sockets, their peers (web.max_conns_per_addr) and where each is in its time budget */
    conn_t conn[CONFIG_LWIP_MAX_SOCKETS];
    int max_per_addr;
    uint32_t header_ms, request_ms;
    guard_t guard[GUARDS_MAX];  /* the registered handlers, behind guarded() */
    unsigned nguards;
    int listen_fd;              /* the server's listening socket (found by listen_socket()), -1: not yet */
    uint16_t port;
    uint32_t backlog_since;     /* when a connection was first seen waiting to be accepted (0: none) */
    uint32_t note_ms;           /* last slow-client log line */
    unsigned note_quiet;        /* closes not logged since */
    uint32_t failures;
    char error[160];
    char listen[64];
};

static const char k_server[] = "esp_http_server (ESP-IDF)";

/* ---- api_port_t over the firmware's stores ------------------------------------------------ */

static bool port_view(void *ctx, gw_view_t *out) { return view_store_get(((http_service_t *)ctx)->svc.views, out) != 0; }

static size_t port_status(void *ctx, char *buf, size_t cap)
{
    return view_store_get_status(((http_service_t *)ctx)->svc.views, buf, cap);
}

static int port_command(void *ctx, gw_cmd_t *cmd, int timeout_ms)
{
    return cmdq_call(((http_service_t *)ctx)->svc.cmdq, cmd, timeout_ms);
}

static size_t port_history(void *ctx, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap)
{
    return history_store_get(((http_service_t *)ctx)->svc.history, r, now_s, out, cap);
}

static uint32_t port_now(void *ctx) { return esp_now_ms(); }
static uint64_t port_wall(void *ctx) { return esp_wall_ms(); }

static void port_sync(void *ctx, int timeout_ms)
{
    http_service_t *s = ctx;
    gw_view_t *v = malloc(sizeof *v);
    if (!v) {
        return;
    }
    uint64_t seq = view_store_get(s->svc.views, v);
    (void)view_store_wait(s->svc.views, seq, v, timeout_ms);
    free(v);
}

static void port_transport(void *ctx, uint32_t *clients, uint64_t *sent, uint64_t *skipped, uint64_t *dropped)
{
    http_service_t *s = ctx;
    if (s->ws) {
        http_ws_stats(s->ws, clients, sent, skipped, dropped);
    } else {
        *clients = 0;
        *sent = *skipped = *dropped = 0;
    }
}

static void port_platform(void *ctx, api_platform_t *out)
{
    (void)ctx;
    out->heap_free = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_8BIT);
    out->heap_min_free = (uint32_t)heap_caps_get_minimum_free_size(MALLOC_CAP_8BIT);
    out->heap_largest = (uint32_t)heap_caps_get_largest_free_block(MALLOC_CAP_8BIT);
    snprintf(out->reset_reason, sizeof out->reset_reason, "%s", firmware_reset_reason());
    health_fill(out); /* resets by cause across restarts, CAN bus-off and error states */
    /* the firmware's own tasks and the system's busiest ones */
    static const char *const names[] = {"owner", "httpd", "ws_push", "mqtt", "mqtt_task", "tiT", "sys_evt", "esp_timer", "wifi", "IDLE"};
    out->ntasks = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && out->ntasks < API_TASKS_MAX; i++) {
        TaskHandle_t t = xTaskGetHandle(names[i]);
        if (t) {
            snprintf(out->task[out->ntasks].name, sizeof out->task[0].name, "%s", names[i]);
            out->task[out->ntasks].stack_free = (uint32_t)uxTaskGetStackHighWaterMark(t);
            out->ntasks++;
        }
    }
}

/* ---- connections (the server task) ------------------------------------------------------- */

static conn_t *conn_of(http_service_t *s, int fd)
{
    for (int i = 0; i < CONFIG_LWIP_MAX_SOCKETS; i++) {
        if (s->conn[i].fd == fd) {
            return &s->conn[i];
        }
    }
    return NULL;
}

static void conn_phase(conn_t *c, cb_phase_t ph, uint32_t budget_ms)
{
    if (c) {
        conn_budget_enter(&c->b, ph, budget_ms, esp_now_ms());
    }
}

/* ---- requests ---------------------------------------------------------------------------------- */

/* The peer of a socket as text ("10.0.2.2"), "?" if unknown. */
static void fd_peer(int fd, char *out, size_t cap)
{
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    snprintf(out, cap, "?");
    if (getpeername(fd, (struct sockaddr *)&a, &al) != 0) {
        return;
    }
    if (a.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, out, cap);
    }
#if CONFIG_LWIP_IPV6
    else if (a.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, out, cap);
    }
#endif
}

void http_peer(httpd_req_t *req, char *out, size_t cap) { fd_peer(httpd_req_to_sockfd(req), out, cap); }

/* A request header, copied into the request's own buffer (NULL if absent or longer than it). */
static const char *header(httpd_req_t *req, const char *name, char **pool, size_t *left)
{
    size_t n = httpd_req_get_hdr_value_len(req, name);
    if (n == 0 || n + 1u > *left) {
        return NULL;
    }
    char *v = *pool;
    if (httpd_req_get_hdr_value_str(req, name, v, n + 1u) != ESP_OK) {
        return NULL;
    }
    *pool += n + 1u;
    *left -= n + 1u;
    return v;
}

static api_method_t method_of(int m)
{
    switch (m) {
    case HTTP_GET: return API_GET;
    case HTTP_HEAD: return API_HEAD;
    case HTTP_POST: return API_POST;
    case HTTP_PUT: return API_PUT;
    case HTTP_DELETE: return API_DELETE;
    case HTTP_PATCH: return API_PATCH;
    case HTTP_OPTIONS: return API_OPTIONS;
    default: return API_OTHER;
    }
}

static const char *status_line(int st)
{
    switch (st) {
    case 200: return "200 OK";
    case 201: return "201 Created";
    case 202: return "202 Accepted";
    case 204: return "204 No Content";
    case 304: return "304 Not Modified";
    case 400: return "400 Bad Request";
    case 401: return "401 Unauthorized";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 409: return "409 Conflict";
    case 411: return "411 Length Required";
    case 413: return "413 Payload Too Large";
    case 429: return "429 Too Many Requests";
    case 500: return "500 Internal Server Error";
    case 501: return "501 Not Implemented";
    case 502: return "502 Bad Gateway";
    case 503: return "503 Service Unavailable";
    case 504: return "504 Gateway Timeout";
    default: return NULL;
    }
}

/* Reads the body (at most max bytes); *too_large when it is longer (not read: the connection closes). */
static char *read_body(httpd_req_t *req, size_t max, size_t *len, bool *too_large)
{
    *len = 0;
    *too_large = false;
    if (req->content_len == 0) {
        return NULL;
    }
    if (req->content_len > max) {
        *too_large = true;
        return NULL;
    }
    char *b = malloc(req->content_len + 1u);
    if (!b) {
        *too_large = true;
        return NULL;
    }
    while (*len < req->content_len) {
        int n = httpd_req_recv(req, b + *len, req->content_len - *len);
        if (n == HTTPD_SOCK_ERR_TIMEOUT) {
            continue;
        }
        if (n <= 0) {
            free(b);
            *len = 0;
            return NULL;
        }
        *len += (size_t)n;
    }
    b[*len] = '\0';
    return b;
}

/* A body streamed to the handler (the firmware update, api_streams_body()): read as it arrives;
 * a client that sends nothing for two receive time-outs in a row has failed. */
typedef struct {
    httpd_req_t *req;
    size_t left;
} stream_t;

static int stream_read(void *ctx, void *buf, size_t cap)
{
    stream_t *st = ctx;
    int timeouts = 0;
    while (st->left > 0u) {
        int n = httpd_req_recv(st->req, buf, cap < st->left ? cap : st->left);
        if (n == HTTPD_SOCK_ERR_TIMEOUT && ++timeouts < 2) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        st->left -= (size_t)n;
        return n;
    }
    return 0;
}

/* Reads and drops the rest of a streamed body for at most ms; true when all of it came. */
static bool drain(httpd_req_t *req, stream_t *st, uint32_t ms)
{
    char *buf = malloc(1460u);
    uint32_t end = esp_now_ms() + ms;
    while (buf && st->left > 0u && (int32_t)(esp_now_ms() - end) < 0) {
        int n = httpd_req_recv(req, buf, st->left < 1460u ? st->left : 1460u);
        if (n == HTTPD_SOCK_ERR_TIMEOUT) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        st->left -= (size_t)n;
    }
    free(buf);
    return st->left == 0u;
}

static esp_err_t on_request(httpd_req_t *req)
{
    http_service_t *s = req->user_ctx;
    char *pool = malloc(2048u), *p = pool;
    size_t left = 2048u;
    if (!pool) {
        return httpd_resp_send_err(req, HTTPD_500_INTERNAL_SERVER_ERROR, "out of memory");
    }
    api_req_t r;
    memset(&r, 0, sizeof r);
    r.method = method_of(req->method);
    /* the URI with its query; the path is cut at '?' in the pool */
    size_t ul = strlen(req->uri);
    char *uri = p;
    if (ul + 1u > left) {
        free(pool);
        return httpd_resp_send_err(req, HTTPD_414_URI_TOO_LONG, "URI too long");
    }
    memcpy(uri, req->uri, ul + 1u);
    p += ul + 1u;
    left -= ul + 1u;
    char *q = strchr(uri, '?');
    if (q) {
        *q = '\0';
        r.query = q + 1;
    }
    r.path = uri;
    r.host = header(req, "Host", &p, &left);
    r.origin = header(req, "Origin", &p, &left);
    r.referer = header(req, "Referer", &p, &left);
    r.sec_fetch_site = header(req, "Sec-Fetch-Site", &p, &left);
    r.cookie = header(req, "Cookie", &p, &left);
    r.accept_encoding = header(req, "Accept-Encoding", &p, &left);
    r.if_none_match = header(req, "If-None-Match", &p, &left);
    char peer[48];
    http_peer(req, peer, sizeof peer);
    r.peer = peer;
    /* no scratch buffer: GET /api/status borrows 8 kB from the heap for the request only, which
     * keeps that RAM free between requests (the idle figure is what the goal counts) */
    stream_t stream = {req, req->content_len};
    char *body = NULL;
    if (api_streams_body(&s->api, &r)) {
        conn_phase(conn_of(s, httpd_req_to_sockfd(req)), CB_STREAM, s->request_ms);
        r.body_read = stream_read;
        r.body_ctx = &stream;
        r.content_length = req->content_len;
    } else {
        body = read_body(req, (size_t)atomic_load(&s->api.max_body), &r.body_len, &r.body_too_large);
    }
    r.body = body;

    api_resp_t resp;
    api_handle(&s->api, &r, &resp);
    free(body);

    char code[8];
    const char *st = status_line(resp.status);
    if (!st) {
        snprintf(code, sizeof code, "%d", resp.status);
        st = code;
    }
    httpd_resp_set_status(req, st);
    httpd_resp_set_type(req, resp.content_type ? resp.content_type : "application/octet-stream");
    httpd_resp_set_hdr(req, "Cache-Control", resp.cacheable ? "no-cache" : "no-store");
    httpd_resp_set_hdr(req, "X-Content-Type-Options", "nosniff");
    httpd_resp_set_hdr(req, "X-Frame-Options", "DENY");
    httpd_resp_set_hdr(req, "Referrer-Policy", "same-origin");
    httpd_resp_set_hdr(req, "Content-Security-Policy",
                       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    /* the handler's own header lines, split in place ("Name: value\r\n" ...) */
    char *h = resp.headers;
    char *end = resp.headers + resp.headers_len;
    while (h < end) {
        char *eol = memchr(h, '\r', (size_t)(end - h));
        char *colon = eol ? memchr(h, ':', (size_t)(eol - h)) : NULL;
        if (!eol || !colon) {
            break;
        }
        *colon = '\0';
        *eol = '\0';
        const char *v = colon + 1;
        while (*v == ' ') {
            v++;
        }
        httpd_resp_set_hdr(req, h, v);
        h = eol + 2;
    }
    /* a streamed body refused part-way: the rest is read and dropped after the reply (below) */
    bool unread_large = r.body_read && stream.left > ota_slot_bytes();
    if (r.body_too_large || unread_large) {
        httpd_resp_set_hdr(req, "Connection", "close");
    }
    bool no_body = r.method == API_HEAD || resp.status == 304 || resp.status == 204;
    esp_err_t e = httpd_resp_send(req, no_body ? NULL : resp.body, no_body ? 0 : (ssize_t)resp.len);
    int status = resp.status;
    api_resp_free(&resp);
    free(pool);
    if (e == ESP_OK && r.body_read && stream.left > 0u) {
        /* A client that sends a whole image reads the reply only afterwards: an administrator's
         * refused upload (wrong chip, ...) is read to its end, for at most 30 s, so that the client
         * sees the reason; other refusals (no session, another origin, larger than the slot) get
         * 2 s, as the Linux gate lingers; then the connection closes. */
        bool admin = status != 401 && status != 403 && !unread_large;
        if (!drain(req, &stream, admin ? 30000u : 2000u)) {
            return ESP_FAIL;
        }
    }
    /* a body left unread cannot be followed by another request on this connection */
    return r.body_too_large || unread_large ? ESP_FAIL : e;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* ---- time budgets (the server task) -------------------------------------------------------------
 *
 * esp_http_server has one task: while it waits for a client's bytes, or for a client to take what
 * it sends, nobody else is served. Its own time-outs are per call (recv_wait_timeout), so a client
 * that sends a header byte every few seconds, or reads one byte a second, could hold it for ever.
 * Every socket's receive and send go through conn_recv()/conn_send(), which wait with select() for
 * at most what is left of the connection's budget for its current phase (app/conn_budget.h):
 *   - a request header: web.header_timeout_ms from its first byte, then 408 and the connection
 *     closes (counted as header_timeout, as the Linux gate does). While the task waits on one
 *     connection, conn_wait() also watches the idle ones and the listening socket's backlog, and
 *     notes when their next request began: many slow headers then run out together instead of one
 *     after the other. Bytes already there are always read, however late the task comes to them;
 *   - a handler's body (CB_BODY) and its reply (CB_REPLY): 4 kB/s after the first second, never
 *     longer than web.request_timeout_ms, then the connection closes; a streamed firmware update
 *     (CB_STREAM) gets web.request_timeout_ms for each wait;
 *   - a WebSocket update: PUSH_MS, then the client is dropped (it does not read).
 * So a slow or hostile client costs the others about a second per connection it opens, and slow
 * headers arriving together cost one header budget between them. */

/* One log line per NOTE_EVERY_MS for connections closed for their time, with how many were not logged. */
static void note_slow(http_service_t *s, const conn_t *c, const char *what)
{
    uint32_t now = esp_now_ms();
    if (s->note_ms && now - s->note_ms < NOTE_EVERY_MS) {
        s->note_quiet++;
        return;
    }
    if (s->note_quiet) {
        LOGW("web", "connection from %s closed: %s (and %u more slow connections since the last such line)",
             c ? c->peer : "?", what, s->note_quiet);
    } else {
        LOGW("web", "connection from %s closed: %s", c ? c->peer : "?", what);
    }
    s->note_ms = now ? now : 1u;
    s->note_quiet = 0;
}

/* Notes the time of the first byte of the next request of every idle connection but `self` that
 * select() found readable in set (they leave the watch: seen != 0). */
static void conn_note_seen(http_service_t *s, const conn_t *self, const fd_set *set, uint32_t now)
{
    for (int i = 0; i < CONFIG_LWIP_MAX_SOCKETS; i++) {
        conn_t *o = &s->conn[i];
        if (o != self && o->fd > 0 && FD_ISSET(o->fd, set)) {
            conn_budget_seen(&o->b, now);
        }
    }
}

/* The server's listening socket: the one of lwIP's that listens on our port (esp_http_server does
 * not say which it is). Its backlog is watched too: a connection accepted after waiting there
 * while the task was busy is timed from when the wait began (on_open()). */
static int listen_socket(uint16_t port)
{
    for (int fd = LWIP_SOCKET_OFFSET; fd < LWIP_SOCKET_OFFSET + CONFIG_LWIP_MAX_SOCKETS; fd++) {
        int on = 0;
        socklen_t len = sizeof on;
        struct sockaddr_storage a;
        socklen_t alen = sizeof a;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on ||
            getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
            continue;
        }
        if (a.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&a)->sin_port) == port) {
            return fd;
        }
#if CONFIG_LWIP_IPV6
        if (a.ss_family == AF_INET6 && ntohs(((struct sockaddr_in6 *)&a)->sin6_port) == port) {
            return fd;
        }
#endif
    }
    return -1;
}

/* Whether fd has something to read right now. */
static bool readable_now(int fd)
{
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    struct timeval tv = {0, 0};
    return select(fd + 1, &rd, NULL, NULL, &tv) > 0;
}

/* Waits until fd can be read (or written) for at most the connection's remaining budget, meanwhile
 * noting when the other idle connections' next requests begin (see above).
 * 0: ready; HTTPD_SOCK_ERR_TIMEOUT: the budget is spent (logged and counted); HTTPD_SOCK_ERR_FAIL. */
static int conn_wait(http_service_t *s, conn_t *c, int fd, bool write)
{
    uint32_t lone_start = esp_now_ms();
    for (;;) {
        uint32_t now = esp_now_ms();
        uint32_t left = c ? conn_budget_left(&c->b, now)
                          : (now - lone_start < s->request_ms ? s->request_ms - (now - lone_start) : 0u);
        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(fd, write ? &wr : &rd);
        int top = fd;
        if (s->listen_fd >= 0 && !s->backlog_since) {
            FD_SET(s->listen_fd, &rd);
            top = s->listen_fd > top ? s->listen_fd : top;
        }
        for (int i = 0; i < CONFIG_LWIP_MAX_SOCKETS; i++) {
            const conn_t *o = &s->conn[i];
            if (o != c && o->fd > 0 && o->fd != fd && o->b.phase == CB_IDLE && !o->b.seen) {
                FD_SET(o->fd, &rd);
                top = o->fd > top ? o->fd : top;
            }
        }
        /* a spent budget still polls once: bytes already there are read however late this task is */
        struct timeval tv = {.tv_sec = (time_t)(left / 1000u), .tv_usec = (suseconds_t)(left % 1000u) * 1000};
        int n = select(top + 1, &rd, write ? &wr : NULL, NULL, &tv);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return HTTPD_SOCK_ERR_FAIL;
        }
        if (n > 0 && FD_ISSET(fd, write ? &wr : &rd)) {
            return 0;
        }
        if (n > 0) {
            uint32_t t = esp_now_ms() | 1u;
            if (s->listen_fd >= 0 && FD_ISSET(s->listen_fd, &rd)) {
                s->backlog_since = t;
            }
            conn_note_seen(s, c, &rd, t);
            continue; /* another connection's first byte: fd's wait goes on with what is left */
        }
        break;
    }
    if (c && c->b.phase == CB_HEADER) {
        atomic_fetch_add(&s->api.n.rejected[API_REJ_HEADER_TIMEOUT], 1u);
    }
    note_slow(s, c, conn_budget_why(c ? (cb_phase_t)c->b.phase : CB_IDLE));
    return HTTPD_SOCK_ERR_TIMEOUT;
}

static int sock_err(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? HTTPD_SOCK_ERR_TIMEOUT : HTTPD_SOCK_ERR_FAIL;
}

/* httpd_recv_func_t for every session. A header's time-out returns HTTPD_SOCK_ERR_TIMEOUT (the
 * server answers 408 and closes); a spent handler budget HTTPD_SOCK_ERR_FAIL (the handler's read
 * fails and the connection closes); a streamed body's wait HTTPD_SOCK_ERR_TIMEOUT (stream_read()
 * allows one). */
static int conn_recv(httpd_handle_t hd, int fd, char *buf, size_t len, int flags)
{
    http_service_t *s = httpd_get_global_user_ctx(hd);
    conn_t *c = conn_of(s, fd);
    if (c && c->b.phase == CB_IDLE) {
        conn_phase(c, CB_HEADER, s->header_ms);
    }
    for (;;) {
        int w = conn_wait(s, c, fd, false);
        if (w != 0) {
            return w == HTTPD_SOCK_ERR_TIMEOUT && c && (c->b.phase == CB_BODY || c->b.phase == CB_REPLY)
                       ? HTTPD_SOCK_ERR_FAIL
                       : w;
        }
        int n = recv(fd, buf, len, flags | MSG_DONTWAIT);
        if (n >= 0) {
            if (c && !(flags & MSG_PEEK)) {
                conn_budget_moved(&c->b, (size_t)n);
            }
            return n;
        }
        if (sock_err() != HTTPD_SOCK_ERR_TIMEOUT) {
            return HTTPD_SOCK_ERR_FAIL;
        }
    }
}

/* httpd_send_func_t for every session: what fits now, waiting for room within the budget. */
static int conn_send(httpd_handle_t hd, int fd, const char *buf, size_t len, int flags)
{
    http_service_t *s = httpd_get_global_user_ctx(hd);
    conn_t *c = conn_of(s, fd);
    if (c && (c->b.phase == CB_IDLE || c->b.phase == CB_HEADER)) {
        conn_phase(c, CB_IDLE, LONE_SEND_MS); /* an error reply of the server's own (400, 408, 431) */
    } else if (c && c->b.phase == CB_BODY) {
        conn_phase(c, CB_REPLY, s->request_ms); /* the time the handler took (a BMS command) is not the reply's */
    }
    for (;;) {
        int w = conn_wait(s, c, fd, true);
        if (w != 0) {
            return HTTPD_SOCK_ERR_FAIL;
        }
        int n = send(fd, buf, len, flags | MSG_DONTWAIT);
        if (n >= 0) {
            if (c) {
                conn_budget_moved(&c->b, (size_t)n);
            }
            return n;
        }
        if (sock_err() != HTTPD_SOCK_ERR_TIMEOUT) {
            return HTTPD_SOCK_ERR_FAIL;
        }
    }
}

/* Every URI handler runs behind this: the connection's handler budget starts, and the next byte
 * after the handler starts a new request header. */
static esp_err_t guarded(httpd_req_t *req)
{
    guard_t *g = req->user_ctx;
    conn_t *c = conn_of(g->s, httpd_req_to_sockfd(req));
    conn_phase(c, CB_BODY, g->s->request_ms);
    req->user_ctx = g->ctx;
    esp_err_t e = g->fn(req);
    conn_phase(c, CB_IDLE, 0);
    return e;
}

esp_err_t http_service_register(httpd_handle_t hd, const httpd_uri_t *u)
{
    http_service_t *s = httpd_get_global_user_ctx(hd);
    if (!s || s->nguards >= GUARDS_MAX) {
        LOGE("web", "no room for the handler of %s", u->uri);
        return ESP_ERR_NO_MEM;
    }
    guard_t *g = &s->guard[s->nguards];
    *g = (guard_t){s, u->handler, u->user_ctx};
    httpd_uri_t v = *u;
    v.handler = guarded;
    v.user_ctx = g;
    esp_err_t e = httpd_register_uri_handler(hd, &v);
    if (e == ESP_OK) {
        s->nguards++;
    }
    return e;
}

void http_service_push(httpd_handle_t hd, int fd, bool begin)
{
    http_service_t *s = httpd_get_global_user_ctx(hd);
    conn_phase(s ? conn_of(s, fd) : NULL, begin ? CB_PUSH : CB_IDLE, PUSH_MS);
}

/* A new connection (server task): at most web.max_conns_per_addr from one address, as the Linux
 * gate allows; the total is the server's socket budget, with the least recently used connection
 * closed first when it is full (lru_purge_enable). */
static esp_err_t on_open(httpd_handle_t hd, int fd)
{
    http_service_t *s = httpd_get_global_user_ctx(hd);
    /* a request that began while the connection waited to be accepted is timed from when that wait
     * was first seen (conn_wait()): behind a busy task, a complete header is still read whenever
     * the task comes to it, an incomplete one has had its time */
    if (s->listen_fd < 0) {
        s->listen_fd = listen_socket(s->port);
    }
    uint32_t waited_since = s->backlog_since;
    if (waited_since && (s->listen_fd < 0 || !readable_now(s->listen_fd))) {
        s->backlog_since = 0; /* nobody else waits */
    }
    char peer[48];
    fd_peer(fd, peer, sizeof peer);
    int same = 0, slot = -1;
    for (int i = 0; i < CONFIG_LWIP_MAX_SOCKETS; i++) {
        if (s->conn[i].fd > 0 && strcmp(s->conn[i].peer, peer) == 0) {
            same++;
        } else if (s->conn[i].fd <= 0 && slot < 0) {
            slot = i;
        }
    }
    if (same >= s->max_per_addr || slot < 0) {
        atomic_fetch_add(&s->api.n.rejected[API_REJ_CONN_PER_ADDR], 1u);
        LOGW("web", "connection from %s refused: %d open already (web.max_conns_per_addr)", peer, same);
        return ESP_FAIL; /* the server closes it */
    }
    conn_t *c = &s->conn[slot];
    c->fd = fd;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    conn_phase(c, CB_IDLE, 0);
    char first;
    if (recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
        conn_budget_seen(&c->b, waited_since ? waited_since : esp_now_ms());
    }
    (void)httpd_sess_set_recv_override(hd, fd, conn_recv);
    (void)httpd_sess_set_send_override(hd, fd, conn_send);
    return ESP_OK;
}

static void on_close(httpd_handle_t hd, int fd)
{
    http_service_t *s = httpd_get_global_user_ctx(hd);
    conn_t *c = conn_of(s, fd);
    if (c) {
        c->fd = 0;
    }
    http_ws_closed(s->ws, fd);
    close(fd);
}

static void print_setup_code(http_service_t *s)
{
    char code[AUTH_SETUP_CODE_LEN + 1u];
    auth_setup_code(&s->auth, code, sizeof code);
    if (!code[0]) {
        return;
    }
    /* on the console only (idf.py monitor), never in the log ring that GET /api/logs serves */
    printf("\n    No web admin password is set yet. Open the web UI and set one with this one-time setup code:\n"
           "\n        %s\n\n    (a new code is made at every start until a password is set)\n\n",
           code);
    LOGW("web", "no admin password yet: changes are refused until it is set with the setup code (printed on the "
                "serial console at start)");
}

static void fail(http_service_t *s, const char *why)
{
    xSemaphoreTake(s->mu, portMAX_DELAY);
    s->failures++;
    snprintf(s->error, sizeof s->error, "%s", why);
    xSemaphoreGive(s->mu);
    LOGE("web", "web UI and API not started: %s; the battery side (BMS -> limits -> CAN) runs on without them", why);
}

http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    http_service_t *s = calloc(1, sizeof *s);
    if (!s) {
        LOGE("web", "web UI and API not started: out of memory");
        return NULL;
    }
    s->svc = *svc;
    s->mu = xSemaphoreCreateMutexStatic(&s->mu_buf);
    snprintf(s->listen, sizeof s->listen, "%s", cfg->gateway.http_listen);
    s->enabled = cfg->web.enabled;
    if (!s->enabled) {
        LOGI("web", "web UI and API disabled (web.enabled = false)");
        return s;
    }
    auth_port_t ap;
    http_auth_port_init(&s->auth_port, &ap);
    (void)auth_init(&s->auth, &ap, &cfg->web, esp_now_ms());
    api_port_t port = {port_view, port_status, port_command, port_history, port_now, port_wall, port_sync,
                       port_transport, s, port_platform, ota_port()};
    api_info_t info = {ota_version(), k_server, false, "nvs:config.json", "nvs", s->listen, webui_assets,
                       webui_asset_count};
    api_init(&s->api, &port, &info, &s->auth, &cfg->web);
    print_setup_code(s);

    netaddr_t na;
    const char *why = NULL;
    if (netaddr_parse(s->listen, strlen(s->listen), NETADDR_PORT_REQUIRED, &na, &why) != TB_OK) {
        fail(s, "gateway.http is not ADDRESS:PORT");
        return s;
    }
    httpd_config_t hc = HTTPD_DEFAULT_CONFIG();
    hc.server_port = na.port;
    hc.ctrl_port = (uint16_t)(na.port == 32768 ? 32769 : 32768);
    hc.stack_size = SERVER_STACK;
    /* the lwIP socket budget: listen + control + 3 reserved; LRU purge: an idle or slow client
     * cannot hold the last socket against a new one */
    int conns = cfg->web.max_connections < CONFIG_LWIP_MAX_SOCKETS - 4 ? cfg->web.max_connections
                                                                       : CONFIG_LWIP_MAX_SOCKETS - 4;
    hc.max_open_sockets = (uint16_t)conns;
    hc.lru_purge_enable = true;
    hc.max_uri_handlers = 10 + WIFI_HTTP_HANDLERS;
    hc.max_resp_headers = 16;
    hc.recv_wait_timeout = (uint16_t)((cfg->web.request_timeout_ms + 999) / 1000);
    hc.send_wait_timeout = hc.recv_wait_timeout;
    hc.uri_match_fn = httpd_uri_match_wildcard;
    hc.global_user_ctx = s;
    hc.open_fn = on_open;
    hc.close_fn = on_close;
    s->max_per_addr = cfg->web.max_conns_per_addr;
    s->header_ms = (uint32_t)cfg->web.header_timeout_ms;
    s->listen_fd = -1;
    s->port = na.port;
    s->request_ms = (uint32_t)cfg->web.request_timeout_ms;
    esp_err_t e = httpd_start(&s->hd, &hc);
    if (e != ESP_OK) {
        char m[96];
        snprintf(m, sizeof m, "cannot listen on port %u: %s", (unsigned)na.port, esp_err_to_name(e));
        fail(s, m);
        return s;
    }
    s->ws = http_ws_start(s->hd, &s->api, svc->views, cfg->web.ws_max_clients);
    /* /ws first: the first matching handler wins */
    httpd_uri_t ws = {.uri = "/ws", .method = HTTP_GET, .handler = http_ws_handler, .user_ctx = s->ws,
                      .is_websocket = true};
    if (s->ws) {
        (void)http_service_register(s->hd, &ws);
    }
#if CONFIG_TB_NET_WIFI
    wifi_http_register(s->hd); /* the setup page and the captive-portal probes, before the catch-all */
#endif
    static const int methods[] = {HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_PATCH, HTTP_OPTIONS};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        httpd_uri_t u = {.uri = "/*", .method = methods[i], .handler = on_request, .user_ctx = s};
        (void)http_service_register(s->hd, &u);
    }
    xSemaphoreTake(s->mu, portMAX_DELAY);
    s->listening = true;
    xSemaphoreGive(s->mu);
    LOGI("web", "web UI and API on port %u (%s)", (unsigned)na.port, k_server);
    return s;
}

void http_service_status(http_service_t *s, gw_web_status_t *out)
{
    memset(out, 0, sizeof *out);
    if (!s) {
        snprintf(out->error, sizeof out->error, "not started yet");
        return;
    }
    out->known = true;
    xSemaphoreTake(s->mu, portMAX_DELAY);
    out->enabled = s->enabled;
    out->listening = s->listening;
    out->bind_failures = s->failures;
    snprintf(out->error, sizeof out->error, "%s", s->error);
    xSemaphoreGive(s->mu);
}
