/* http_service: civetweb adapted to app/api.h (REST, /metrics, the embedded UI) and
 * ports/linux/http_ws.h (/ws). Clients connect to the gate (ports/linux/http_gate.h), which
 * listens on gateway.http, limits connections per address and in all, and hands a connection to
 * civetweb (listening on 127.0.0.1:<ephemeral>) only once its request header is complete.
 * civetweb's worker threads (web.http_threads plus one per WebSocket client) each turn a request
 * into an api_req_t (the peer address from the gate), call api_handle() and write the response
 * with a single send where it fits (no Nagle stall, no partial header/body pairs).
 * No document_root is configured: nothing is ever served from the file system. */
#define _GNU_SOURCE /* pthread_setname_np: thread names in top -H and gdb */
#include "ports/linux/http_service.h"

#include <civetweb.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "app/api.h"
#include "app/auth.h"
#include "app/log.h"
#include "ports/linux/clock.h"
#include "ports/linux/http_auth.h"
#include "ports/linux/http_gate.h"
#include "ports/linux/http_ws.h"

/* The UI, generated from web/ at build time (web/embed.cmake). */
extern const api_asset_t webui_assets[];
extern const size_t webui_asset_count;

#define SINGLE_WRITE_MAX (64u * 1024u)

/* Buffers lent to one request at a time: the status JSON and the header+body of a response are
 * built here, so the hot path (GET /api/status) allocates nothing. A pool, not one per thread:
 * civetweb runs web.http_threads + web.ws_max_clients workers and, as WebSocket clients come and
 * go, every one of them ends up serving plain requests; a buffer kept per thread made the daemon
 * grow by 76 kB per worker ever used (up to 20 MB with 256 WebSocket clients, issue 16;
 * docs/performance.md "Memory under WebSocket load"). The pool keeps at most web.http_threads idle
 * buffers; a request beyond that borrows one that is freed when it is done. */
typedef struct thread_bufs {
    struct thread_bufs *next; /* pool only */
    char scratch[GW_STATUS_JSON_MAX];
    char out[SINGLE_WRITE_MAX];
} thread_bufs_t;

typedef struct {
    pthread_mutex_t mu;
    thread_bufs_t *idle;
    int nidle, keep;
} bufs_pool_t;

static thread_bufs_t *bufs_get(bufs_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    thread_bufs_t *b = p->idle;
    if (b) {
        p->idle = b->next;
        p->nidle--;
    }
    pthread_mutex_unlock(&p->mu);
    return b ? b : malloc(sizeof *b);
}

static void bufs_put(bufs_pool_t *p, thread_bufs_t *b)
{
    if (!b) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    bool keep = p->nidle < p->keep;
    if (keep) {
        b->next = p->idle;
        p->idle = b;
        p->nidle++;
    }
    pthread_mutex_unlock(&p->mu);
    if (!keep) {
        free(b);
    }
}

static void bufs_free_all(bufs_pool_t *p)
{
    while (p->idle) {
        thread_bufs_t *b = p->idle;
        p->idle = b->next;
        free(b);
    }
    p->nidle = 0;
}

struct http_service {
    gw_services_t svc;
    bool enabled;
    bool auth_ready;           /* auth_port initialised (destroyed at stop) */
    bool lib_ready;            /* mg_init_library called (mg_exit_library at stop) */
    struct mg_context *ctx;    /* written by the starting thread only (start, then the retry thread) */
    http_auth_port_t auth_port;
    auth_t auth;
    api_t api;
    http_ws_t *ws;
    http_gate_t *gate;
    bufs_pool_t bufs;
    char listen[64];
    char config_path[512];
    char server[32];           /* "civetweb 1.15" (GET /api/system) */
    api_web_cfg_t web;         /* web.* at start-up (the civetweb options) */

    /* listening state, under mu: written by the starting thread, read by http_service_status() */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* wakes the retry thread at stop */
    bool stop;
    bool listening;
    bool permanent;            /* cannot be served by this build: not retried */
    uint32_t failures;
    char error[160];
    bool retry_started;
    pthread_t retry_thread;
};

/* ---- api_port_t over the daemon's stores ---------------------------------------------------------------- */

static bool port_view(void *ctx, gw_view_t *out)
{
    http_service_t *s = ctx;
    return view_store_get(s->svc.views, out) != 0;
}

static size_t port_status(void *ctx, char *buf, size_t cap)
{
    http_service_t *s = ctx;
    return view_store_get_status(s->svc.views, buf, cap);
}

static int port_command(void *ctx, gw_cmd_t *cmd, int timeout_ms)
{
    http_service_t *s = ctx;
    return cmdq_call(s->svc.cmdq, cmd, timeout_ms);
}

static size_t port_history(void *ctx, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap)
{
    http_service_t *s = ctx;
    return history_store_get(s->svc.history, r, now_s, out, cap);
}

static uint32_t port_now(void *ctx)
{
    (void)ctx;
    return linux_now_ms();
}

static uint64_t port_wall(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void port_sync(void *ctx, int timeout_ms)
{
    http_service_t *s = ctx;
    gw_view_t *v = malloc(sizeof *v);
    if (!v) {
        return;
    }
    pthread_mutex_lock(&s->svc.views->mu);
    uint64_t seq = s->svc.views->seq;
    pthread_mutex_unlock(&s->svc.views->mu);
    (void)view_store_wait(s->svc.views, seq, v, timeout_ms);
    free(v);
}

static void port_transport(void *ctx, uint32_t *clients, uint64_t *sent, uint64_t *skipped, uint64_t *dropped)
{
    http_service_t *s = ctx;
    /* s->ws is set before the request handlers are registered (try_listen) */
    http_ws_stats(s->ws, clients, sent, skipped, dropped);
}

/* ---- requests ---------------------------------------------------------------------------------------------- */

/* Read the body, at most max bytes. *too_large when there was more. NULL body for none. */
static char *read_body(struct mg_connection *conn, const struct mg_request_info *ri, size_t max, size_t *len,
                       bool *too_large)
{
    *len = 0;
    *too_large = false;
    if (ri->content_length == 0) {
        return NULL;
    }
    if (ri->content_length > 0 && (unsigned long long)ri->content_length > max) {
        *too_large = true; /* refused without reading a byte */
        return NULL;
    }
    size_t cap = ri->content_length > 0 ? (size_t)ri->content_length : 4096u;
    char *buf = malloc(cap + 1u);
    if (!buf) {
        *too_large = true;
        return NULL;
    }
    for (;;) {
        if (*len == cap) {
            if (ri->content_length > 0 || cap >= max + 1u) {
                break;
            }
            size_t ncap = cap * 2u > max + 1u ? max + 1u : cap * 2u;
            char *nb = realloc(buf, ncap + 1u);
            if (!nb) {
                break;
            }
            buf = nb;
            cap = ncap;
        }
        int n = mg_read(conn, buf + *len, cap - *len);
        if (n <= 0) {
            break;
        }
        *len += (size_t)n;
    }
    if (*len > max) {
        *too_large = true;
        free(buf);
        *len = 0;
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

static const char k_security_headers[] =
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: same-origin\r\n"
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n";

static void send_response(struct mg_connection *conn, const api_resp_t *r, bool head, bool close, thread_bufs_t *tb)
{
    char hdr[2048];
    const char *reason = mg_get_response_code_text(conn, r->status);
    bool no_body = head || r->status == 304 || r->status == 204;
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "Cache-Control: %s\r\n"
                      "%s%.*s%s\r\n",
                      r->status, reason ? reason : "", r->content_type ? r->content_type : "application/octet-stream",
                      r->status == 304 ? (size_t)0 : r->len, r->cacheable ? "no-cache" : "no-store", k_security_headers,
                      (int)r->headers_len, r->headers, close ? "Connection: close\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof hdr) {
        static const char k_err[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        mg_write(conn, k_err, sizeof k_err - 1u);
        return;
    }
    size_t blen = no_body ? 0u : r->len;
    if (blen == 0u) {
        mg_write(conn, hdr, (size_t)hl);
        return;
    }
    if (tb && (size_t)hl + blen <= sizeof tb->out) {
        memcpy(tb->out, hdr, (size_t)hl);
        memcpy(tb->out + hl, r->body, blen);
        mg_write(conn, tb->out, (size_t)hl + blen);
        return;
    }
    mg_write(conn, hdr, (size_t)hl);
    mg_write(conn, r->body, blen);
}

static int on_request(struct mg_connection *conn, void *cb)
{
    http_service_t *s = cb;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    api_req_t req;
    memset(&req, 0, sizeof req);
    req.method = api_method_parse(ri->request_method);
    req.path = ri->local_uri ? ri->local_uri : "/";
    req.query = ri->query_string;
    req.host = mg_get_header(conn, "Host");
    req.origin = mg_get_header(conn, "Origin");
    req.referer = mg_get_header(conn, "Referer");
    req.sec_fetch_site = mg_get_header(conn, "Sec-Fetch-Site");
    req.cookie = mg_get_header(conn, "Cookie");
    req.accept_encoding = mg_get_header(conn, "Accept-Encoding");
    req.if_none_match = mg_get_header(conn, "If-None-Match");
    char peer[48];
    if (!http_gate_peer(s->gate, ri->remote_addr, ri->remote_port, peer, sizeof peer)) {
        /* straight to civetweb's internal port, around the gate and its limits */
        api_resp_t resp;
        api_error(&s->api, &resp, 403, API_REJ_CROSS_ORIGIN, "forbidden", NULL,
                  "connect to the gateway's web address (gateway.http)");
        mg_disable_connection_keep_alive(conn);
        send_response(conn, &resp, false, true, NULL);
        api_resp_free(&resp);
        return 403;
    }
    req.peer = peer;
    thread_bufs_t *tb = bufs_get(&s->bufs);
    if (tb) {
        req.scratch = tb->scratch;
        req.scratch_cap = sizeof tb->scratch;
    }
    size_t max = (size_t)atomic_load(&s->api.max_body);
    char *body = NULL;
    if (req.method == API_POST || req.method == API_PUT || req.method == API_PATCH || req.method == API_DELETE ||
        ri->content_length > 0) {
        body = read_body(conn, ri, max, &req.body_len, &req.body_too_large);
        req.body = body;
    }
    api_resp_t resp;
    api_handle(&s->api, &req, &resp);
    if (req.body_too_large) {
        /* the rest of the body was never read: the connection cannot carry another request */
        mg_disable_connection_keep_alive(conn);
    }
    send_response(conn, &resp, req.method == API_HEAD, req.body_too_large, tb);
    int status = resp.status;
    api_resp_free(&resp);
    bufs_put(&s->bufs, tb);
    free(body);
    return status;
}

/* civetweb says why a start failed ("cannot bind to 127.0.0.1:8080: 98 (Address already in use)")
 * only through this callback, in the thread that calls mg_start2 (with a stand-in connection);
 * mg_start2's own error text is the generic "Failed to setup server ports". The first message of
 * a start is kept in the starting thread's buffer. */
static _Thread_local char *g_start_err;
static _Thread_local size_t g_start_err_cap;

static int on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    if (g_start_err && g_start_err[0] == '\0') {
        snprintf(g_start_err, g_start_err_cap, "%s", message);
    }
    LOGD("civetweb", "%s", message);
    return 1;
}

/* ---- life cycle ----------------------------------------------------------------------------------------------- */

static void print_setup_code(http_service_t *s)
{
    char code[AUTH_SETUP_CODE_LEN + 1u];
    auth_setup_code(&s->auth, code, sizeof code);
    if (!code[0]) {
        return;
    }
    /* straight to stderr (the journal), never into the log ring that GET /api/logs serves */
    fprintf(stderr,
            "\n"
            "    No web admin password is set yet. Open the web UI and set one with this one-time setup code:\n"
            "\n"
            "        %s\n"
            "\n"
            "    (also in %s/%s; a new code is made at every start until a password is set)\n\n",
            code, s->svc.state_dir, AUTH_OBJ_SETUP);
    fflush(stderr);
    LOGW("web", "no admin password yet: changes are refused until it is set with the setup code (printed on stderr "
                "at start, stored in %s/%s)",
         s->svc.state_dir, AUTH_OBJ_SETUP);
}

/* A failure that no retry can cure (this build cannot serve it): logged, shown, not retried. */
static void fail_permanently(http_service_t *s, const char *why)
{
    pthread_mutex_lock(&s->mu);
    s->permanent = true;
    s->failures++;
    snprintf(s->error, sizeof s->error, "%s", why);
    pthread_mutex_unlock(&s->mu);
    LOGE("web", "web UI and API not started: %s; the battery side (BMS -> limits -> CAN) runs on without them", why);
}

/* One attempt to listen on gateway.http and start serving: the gate binds gateway.http (what can
 * fail: the port is taken, the address is not on this host), then civetweb on 127.0.0.1:0 behind
 * it. Called by the starting thread, then by the retry thread (never both: the retry thread starts
 * after the first attempt). true if serving. */
static bool try_listen(http_service_t *s)
{
    char why[160] = "";
    http_gate_cfg_t gc = {s->listen, (int)s->web.max_connections, (int)s->web.max_conns_per_addr,
                          (int)s->web.header_timeout_ms, (int)s->web.request_timeout_ms, &s->api.n,
                          &s->api.max_body};
    http_gate_t *gate = http_gate_open(&gc, why, sizeof why);
    struct mg_context *ctx = NULL;
    http_ws_t *ws = NULL;
    if (gate) {
        /* civetweb only ever sees connections from the gate */
        char threads[16], timeout[16];
        snprintf(threads, sizeof threads, "%d", (int)(s->web.http_threads + s->web.ws_max_clients));
        snprintf(timeout, sizeof timeout, "%d", (int)s->web.request_timeout_ms);
        const char *opts[] = {"listening_ports", "127.0.0.1:0",
                              "num_threads", threads,
                              "request_timeout_ms", timeout,
                              "websocket_timeout_ms", timeout,
                              /* off: civetweb would answer pings and swallow pongs without the
                               * RFC 6455 checks; http_ws answers them and sends the keep-alive pings */
                              "enable_websocket_ping_pong", "no",
                              "enable_keep_alive", "yes",
                              "keep_alive_timeout_ms", "5000",
                              /* a reply sent before the request's end (413 to an oversized
                               * body): civetweb shuts its side and reads the rest before closing,
                               * so no reset destroys the reply on its way to the gate */
                              "linger_timeout_ms", "2000",
                              "tcp_nodelay", "1",
                              "enable_directory_listing", "no",
                              NULL};
        struct mg_callbacks cbs;
        memset(&cbs, 0, sizeof cbs);
        cbs.log_message = on_log;
        char generic[96] = "";
        unsigned code = 0;
        struct mg_error_data err = {&code, generic, sizeof generic};
        struct mg_init_data init = {&cbs, s, opts};
        g_start_err = why;
        g_start_err_cap = sizeof why;
        ctx = mg_start2(&init, &err);
        g_start_err = NULL;
        if (!ctx && !why[0]) {
            snprintf(why, sizeof why, "civetweb cannot listen on 127.0.0.1: %s",
                     generic[0] ? generic : "civetweb could not start");
        }
    }
    if (ctx) {
        ws = http_ws_start(ctx, s->svc.views, &s->api, s->web.ws_max_clients, s->web.request_timeout_ms, TB_VERSION,
                           gate);
        struct mg_server_port sp[4];
        int np = ws ? mg_get_server_ports(ctx, 4, sp) : 0;
        if (!ws || np < 1 || http_gate_run(gate, sp[0].port) != 0) {
            if (ws) {
                http_ws_shutdown(ws);
            }
            mg_stop(ctx);
            http_ws_free(ws);
            ctx = NULL;
            snprintf(why, sizeof why, "%s", ws ? "the connection gate could not start" : "the WebSocket service could not start");
        }
    }
    if (!ctx) {
        http_gate_stop(gate);
    }
    pthread_mutex_lock(&s->mu);
    uint32_t failures = ctx ? s->failures : ++s->failures;
    bool repeat = !ctx && strcmp(why, s->error) == 0;
    if (!ctx) {
        snprintf(s->error, sizeof s->error, "%s", why);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ctx) {
        if (!repeat) {
            /* logged once per distinct reason; the count is in the status and the metrics */
            LOGE("web", "cannot serve the web UI and API on %s: %s; the battery side (BMS -> limits -> CAN) runs "
                        "on, retrying every %u s",
                 s->listen, why, HTTP_RETRY_MS / 1000u);
            if (s->svc.demo) {
                /* the demo is run by hand: say what to do, once per reason */
                fprintf(stderr,
                        "\n    The demo's web UI cannot listen on %s (%s).\n"
                        "    If another program (perhaps another demo) uses that port, stop it or start the demo on\n"
                        "    another one: make demo PORT=8081, or tinybms-gateway --demo --http 127.0.0.1:8081.\n"
                        "    This one keeps retrying every %u s.\n\n",
                        s->listen, why, HTTP_RETRY_MS / 1000u);
                fflush(stderr);
            }
        }
        return false;
    }
    s->gate = gate;
    s->ctx = ctx;
    s->ws = ws;
    /* "/" last: a request can only reach the API once s->ws and s->gate are set */
    mg_set_request_handler(ctx, "/", on_request, s);
    pthread_mutex_lock(&s->mu);
    s->listening = true;
    pthread_mutex_unlock(&s->mu);
    char url[96];
    snprintf(url, sizeof url, "http://%s/", s->listen);
    if (strncmp(s->listen, "0.0.0.0:", 8) == 0 || strncmp(s->listen, "[::]:", 5) == 0) {
        snprintf(url, sizeof url, "http://<this host's address>:%d/", http_gate_port(gate));
    }
    char after[64] = "";
    if (failures) {
        snprintf(after, sizeof after, " after %u failed attempt%s", (unsigned)failures, failures == 1u ? "" : "s");
    }
    LOGI("web", "web UI and API on %s%s (%s, %d threads; at most %d connections, %d per address, header within %d ms; "
                "read-only view %s)",
         url, after, s->server, (int)(s->web.http_threads + s->web.ws_max_clients), (int)s->web.max_connections,
         (int)s->web.max_conns_per_addr, (int)s->web.header_timeout_ms,
         s->web.read_only_open ? "open" : "behind the login");
    if (s->svc.demo) {
        fprintf(stderr, "\n    Demo running: open %s in a browser.\n", url);
    }
    return true;
}

/* Until the address can be bound (another program frees the port, the address appears on an
 * interface) or the service stops. */
static void *retry_main(void *arg)
{
    http_service_t *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop && !s->listening) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += HTTP_RETRY_MS / 1000u;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0) {
        }
        if (s->stop) {
            break;
        }
        pthread_mutex_unlock(&s->mu);
        (void)try_listen(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    http_service_t *s = calloc(1, sizeof *s);
    if (!s) {
        LOGE("web", "out of memory: web UI and API not started");
        return NULL;
    }
    s->svc = *svc;
    s->web = cfg->web;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(s->listen, sizeof s->listen, "%s", cfg->gateway.http_listen);
    pthread_mutex_init(&s->bufs.mu, NULL);
    s->bufs.keep = cfg->web.http_threads;
    s->enabled = cfg->web.enabled;
    if (!s->enabled) {
        LOGI("web", "web UI and API disabled (web.enabled = false)");
        return s;
    }
    auth_port_t ap;
    if (http_auth_port_init(&s->auth_port, svc->state_dir, &ap) != 0) {
        fail_permanently(s, "libsodium cannot initialise (no randomness?)");
        return s;
    }
    s->auth_ready = true;
    (void)auth_init(&s->auth, &ap, &cfg->web, linux_now_ms());

    (void)mg_init_library(MG_FEATURES_DEFAULT);
    s->lib_ready = true;
    if (!mg_check_feature(MG_FEATURES_WEBSOCKET)) {
        char why[96];
        snprintf(why, sizeof why, "civetweb %s lacks WebSocket support", mg_version());
        fail_permanently(s, why);
        return s;
    }
    api_port_t port = {port_view, port_status, port_command, port_history, port_now, port_wall, port_sync,
                       port_transport, s, NULL, NULL};
    snprintf(s->server, sizeof s->server, "civetweb %s", mg_version());
    api_info_t info = {TB_VERSION, s->server, svc->demo, svc->config_path, svc->state_dir, s->listen,
                       webui_assets, webui_asset_count};
    api_init(&s->api, &port, &info, &s->auth, &cfg->web);

    print_setup_code(s);
    if (!try_listen(s)) {
        if (pthread_create(&s->retry_thread, NULL, retry_main, s) == 0) {
            s->retry_started = true;
            pthread_setname_np(s->retry_thread, "web-retry");
        } else {
            LOGE("web", "cannot start the thread that retries %s: %s", s->listen, strerror(errno));
        }
    }
    return s;
}

void http_service_status(http_service_t *s, gw_web_status_t *out)
{
    memset(out, 0, sizeof *out);
    if (!s) {
        snprintf(out->error, sizeof out->error, "not started (out of memory)");
        return;
    }
    pthread_mutex_lock(&s->mu);
    out->enabled = s->enabled;
    out->listening = s->listening;
    out->retrying = s->enabled && !s->listening && !s->permanent && s->retry_started && !s->stop;
    out->bind_failures = s->failures;
    snprintf(out->error, sizeof out->error, "%s", s->error);
    pthread_mutex_unlock(&s->mu);
}

void http_service_stop(http_service_t *s)
{
    if (!s) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->retry_started) {
        pthread_join(s->retry_thread, NULL); /* at most one attempt in progress: mg_start2 fails or returns at once */
    }
    if (s->ctx) {
        http_ws_shutdown(s->ws);
        mg_stop(s->ctx);
        http_ws_free(s->ws);
        /* after mg_stop: civetweb's workers ask the gate for peer addresses */
        http_gate_stop(s->gate);
    }
    if (s->lib_ready) {
        mg_exit_library();
    }
    if (s->auth_ready) {
        http_auth_port_destroy(&s->auth_port);
    }
    bufs_free_all(&s->bufs); /* no request can run any more */
    pthread_mutex_destroy(&s->bufs.mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
