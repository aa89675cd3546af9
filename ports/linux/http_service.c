/* http_service: civetweb adapted to app/api.h (REST, /metrics, the embedded UI) and
 * ports/linux/http_ws.h (/ws). civetweb's worker threads (web.http_threads plus one per
 * WebSocket client) each turn a request into an api_req_t, call api_handle() and write the
 * response with a single send where it fits (no Nagle stall, no partial header/body pairs).
 * No document_root is configured: nothing is ever served from the file system. */
#include "ports/linux/http_service.h"

#include <civetweb.h>
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
    struct mg_context *ctx;
    http_auth_port_t auth_port;
    auth_t auth;
    api_t api;
    http_ws_t *ws;
    bufs_pool_t bufs;
    char listen[64];
    char config_path[512];
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
    req.peer = ri->remote_addr;
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

static int on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    LOGD("civetweb", "%s", message);
    return 1;
}

/* ---- life cycle ----------------------------------------------------------------------------------------------- */

/* "ADDR:PORT" -> civetweb listening_ports ("ADDR:PORT", "[v6]:PORT" -> "[v6]:PORT" with IPv6). */
static void listen_spec(const char *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s", in);
}

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

http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    http_service_t *s = calloc(1, sizeof *s);
    if (!s) {
        LOGE("web", "out of memory");
        return NULL;
    }
    s->svc = *svc;
    pthread_mutex_init(&s->bufs.mu, NULL);
    s->bufs.keep = cfg->web.http_threads;
    s->enabled = cfg->web.enabled;
    if (!s->enabled) {
        LOGI("web", "web UI and API disabled (web.enabled = false)");
        return s;
    }
    snprintf(s->listen, sizeof s->listen, "%s", cfg->gateway.http_listen);
    auth_port_t ap;
    if (http_auth_port_init(&s->auth_port, svc->state_dir, &ap) != 0) {
        LOGE("web", "libsodium cannot initialise (no randomness?): web service not started");
        free(s);
        return NULL;
    }
    (void)auth_init(&s->auth, &ap, &cfg->web, linux_now_ms());

    (void)mg_init_library(MG_FEATURES_DEFAULT);
    if (!mg_check_feature(MG_FEATURES_WEBSOCKET)) {
        LOGE("web", "civetweb %s lacks WebSocket support: web service not started", mg_version());
        http_auth_port_destroy(&s->auth_port);
        free(s);
        return NULL;
    }
    api_port_t port = {port_view, port_status, port_command, port_history, port_now, port_wall, port_sync,
                       port_transport, s};
    char server[32];
    snprintf(server, sizeof server, "civetweb %s", mg_version());
    static char server_name[32];
    memcpy(server_name, server, sizeof server_name);
    api_info_t info = {TB_VERSION, server_name, svc->demo, svc->config_path, svc->state_dir, s->listen,
                       webui_assets, webui_asset_count};
    api_init(&s->api, &port, &info, &s->auth, &cfg->web);

    char ports[80], threads[16], timeout[16], wst[16];
    listen_spec(cfg->gateway.http_listen, ports, sizeof ports);
    snprintf(threads, sizeof threads, "%d", (int)(cfg->web.http_threads + cfg->web.ws_max_clients));
    snprintf(timeout, sizeof timeout, "%d", (int)cfg->web.request_timeout_ms);
    snprintf(wst, sizeof wst, "%d", (int)cfg->web.request_timeout_ms);
    const char *opts[] = {"listening_ports", ports,
                          "num_threads", threads,
                          "request_timeout_ms", timeout,
                          "websocket_timeout_ms", wst,
                          "enable_websocket_ping_pong", "yes",
                          "enable_keep_alive", "yes",
                          "keep_alive_timeout_ms", "5000",
                          "tcp_nodelay", "1",
                          "enable_directory_listing", "no",
                          NULL};
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof cbs);
    cbs.log_message = on_log;
    s->ctx = mg_start(&cbs, s, opts);
    if (!s->ctx) {
        LOGE("web", "cannot serve HTTP on %s (address in use or not available; see gateway.http)",
             cfg->gateway.http_listen);
        mg_exit_library();
        http_auth_port_destroy(&s->auth_port);
        free(s);
        return NULL;
    }
    mg_set_request_handler(s->ctx, "/", on_request, s);
    s->ws = http_ws_start(s->ctx, svc->views, &s->api, cfg->web.ws_max_clients, cfg->web.request_timeout_ms,
                          TB_VERSION);
    if (!s->ws) {
        mg_stop(s->ctx);
        mg_exit_library();
        http_auth_port_destroy(&s->auth_port);
        free(s);
        return NULL;
    }
    struct mg_server_port sp[4];
    int np = mg_get_server_ports(s->ctx, 4, sp);
    const char *host = cfg->gateway.http_listen;
    char url[96];
    snprintf(url, sizeof url, "http://%s/", host);
    if (strncmp(host, "0.0.0.0:", 8) == 0 && np > 0) {
        snprintf(url, sizeof url, "http://<this host's address>:%d/", sp[0].port);
    }
    LOGI("web", "web UI and API on %s (%s, %d threads, read-only view %s)", url, server_name,
         (int)(cfg->web.http_threads + cfg->web.ws_max_clients), cfg->web.read_only_open ? "open" : "behind the login");
    if (svc->demo) {
        fprintf(stderr, "\n    Demo running: open %s in a browser.\n", url);
    }
    print_setup_code(s);
    return s;
}

void http_service_stop(http_service_t *s)
{
    if (!s) {
        return;
    }
    if (s->ctx) {
        http_ws_shutdown(s->ws);
        mg_stop(s->ctx);
        http_ws_free(s->ws);
        mg_exit_library();
        http_auth_port_destroy(&s->auth_port);
    }
    bufs_free_all(&s->bufs); /* no request can run any more */
    pthread_mutex_destroy(&s->bufs.mu);
    free(s);
}
