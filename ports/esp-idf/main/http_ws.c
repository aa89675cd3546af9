#include "http_ws.h"

#include "http_service.h"

#include <stdlib.h>
#include <string.h>

#include "app/api_ws.h"
#include "app/auth.h"
#include "app/log.h"
#include "app/utf8.h"
#include "clock.h"
#include "core/tb_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#define MSG_MAX (GW_STATUS_JSON_MAX + 256u)
#define PUSHER_STACK 2048u /* 0.8 kB used with every subscription: docs/performance.md */
#define LOG_BATCH 8u

typedef struct {
    int fd;                    /* -1: free */
    api_ws_sub_t sub;
    uint32_t event_seq;        /* newest event sent */
    uint64_t log_seq;          /* newest log line sent */
    api_ws_rate_t status_rate, can_rate;
} ws_client_t;

struct http_ws {
    httpd_handle_t hd;
    api_t *api;
    view_store_t *views;
    int max_clients;
    SemaphoreHandle_t mu;      /* clients[] */
    StaticSemaphore_t mu_buf;
    ws_client_t c[HTTP_WS_MAX];
    SemaphoreHandle_t sent;    /* a queued send finished: the buffer is free again */
    StaticSemaphore_t sent_buf;
    TaskHandle_t task;
    char *buf;                 /* one message at a time, rendered from the view store under its lock */
    log_entry_t logs[LOG_BATCH];
    /* the queued send */
    int job_fd;
    size_t job_len;
    esp_err_t job_rc;
    uint64_t n_sent, n_skipped, n_dropped;
};

static void send_close(httpd_req_t *req, uint16_t code, const char *why)
{
    uint8_t b[2 + 123];
    size_t n = strlen(why);
    n = n > 123u ? 123u : n;
    b[0] = (uint8_t)(code >> 8);
    b[1] = (uint8_t)code;
    memcpy(b + 2, why, n);
    httpd_ws_frame_t f = {.final = true, .type = HTTPD_WS_TYPE_CLOSE, .payload = b, .len = n + 2u};
    (void)httpd_ws_send_frame(req, &f);
}

static const char *hdr(httpd_req_t *req, const char *name, char *buf, size_t cap)
{
    return httpd_req_get_hdr_value_str(req, name, buf, cap) == ESP_OK ? buf : NULL;
}

static ws_client_t *find(http_ws_t *ws, int fd)
{
    for (int i = 0; i < HTTP_WS_MAX; i++) {
        if (ws->c[i].fd == fd) {
            return &ws->c[i];
        }
    }
    return NULL;
}

/* The handshake was answered by the server; decide whether this client may stay. */
static esp_err_t on_handshake(http_ws_t *ws, httpd_req_t *req)
{
    char host[96], origin[128], cookie[256], site[32], peer[48] = "?";
    api_req_t r;
    memset(&r, 0, sizeof r);
    r.method = API_GET;
    r.path = "/ws";
    r.host = hdr(req, "Host", host, sizeof host);
    r.origin = hdr(req, "Origin", origin, sizeof origin);
    r.cookie = hdr(req, "Cookie", cookie, sizeof cookie);
    http_peer(req, peer, sizeof peer);
    r.peer = peer;
    if (!auth_same_origin(r.host, r.origin, NULL, hdr(req, "Sec-Fetch-Site", site, sizeof site))) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_CROSS_ORIGIN], 1u);
        LOGW("web", "cross-origin WebSocket from %s refused", peer);
        send_close(req, 1008, "cross-origin WebSocket refused");
        return ESP_FAIL;
    }
    if (!api_may_read(ws->api, &r)) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_UNAUTHENTICATED], 1u);
        send_close(req, 1008, "log in first: the read-only view is closed");
        return ESP_FAIL;
    }
    int fd = httpd_req_to_sockfd(req);
    xSemaphoreTake(ws->mu, portMAX_DELAY);
    ws_client_t *c = NULL;
    int n = 0;
    for (int i = 0; i < HTTP_WS_MAX; i++) {
        n += ws->c[i].fd >= 0;
        if (ws->c[i].fd < 0 && !c) {
            c = &ws->c[i];
        }
    }
    if (n >= ws->max_clients) {
        c = NULL;
    }
    if (c) {
        memset(c, 0, sizeof *c);
        c->fd = fd;
        api_ws_sub_default(&c->sub);
        c->log_seq = log_last_seq();
        c->event_seq = UINT32_MAX; /* set from the first view */
    }
    api_ws_sub_t sub = c ? c->sub : (api_ws_sub_t){0};
    xSemaphoreGive(ws->mu);
    if (!c) {
        atomic_fetch_add(&ws->api->n.rejected[API_REJ_BUSY], 1u);
        LOGW("web", "WebSocket from %s refused: %d clients already (web.ws_max_clients)", peer, ws->max_clients);
        send_close(req, 1013, "too many WebSocket clients; try again later");
        return ESP_FAIL;
    }
    char hello[256];
    int hl = api_ws_hello(hello, sizeof hello, ws->api->info.version, atomic_load(&ws->api->ws_rate_hz), &sub);
    if (hl > 0) {
        httpd_ws_frame_t f = {.final = true, .type = HTTPD_WS_TYPE_TEXT, .payload = (uint8_t *)hello, .len = (size_t)hl};
        (void)httpd_ws_send_frame(req, &f);
    }
    xTaskNotifyGive(ws->task);
    return ESP_OK;
}

static esp_err_t fail(http_ws_t *ws, httpd_req_t *req, ws_rx_err_t why, uint16_t code, const char *text)
{
    atomic_fetch_add(&ws->api->n.ws_failed[why], 1u);
    LOGW("web", "WebSocket client closed with %u: %s", (unsigned)code, text);
    send_close(req, code, text);
    return ESP_FAIL;
}

esp_err_t http_ws_handler(httpd_req_t *req)
{
    http_ws_t *ws = req->user_ctx;
    if (req->method == HTTP_GET) {
        return on_handshake(ws, req);
    }
    httpd_ws_frame_t f;
    memset(&f, 0, sizeof f);
    if (httpd_ws_recv_frame(req, &f, 0) != ESP_OK) {
        return ESP_FAIL;
    }
    if (f.len > API_WS_CLIENT_MSG_MAX) {
        return fail(ws, req, WS_RX_ERR_TOO_BIG, 1009, "message larger than 512 bytes");
    }
    uint8_t buf[API_WS_CLIENT_MSG_MAX + 1u];
    f.payload = buf;
    if (f.len && httpd_ws_recv_frame(req, &f, f.len) != ESP_OK) {
        return ESP_FAIL;
    }
    switch (f.type) {
    case HTTPD_WS_TYPE_TEXT:
        break;
    case HTTPD_WS_TYPE_BINARY:
        return fail(ws, req, WS_RX_ERR_UNSUPPORTED, 1003, "binary messages are not accepted");
    case HTTPD_WS_TYPE_CONTINUE:
        /* esp_http_server hands fragments over one by one: only whole messages are accepted */
        return fail(ws, req, WS_RX_ERR_PROTOCOL, 1002, "fragmented messages are not accepted by this gateway");
    default:
        return ESP_OK; /* ping/pong/close: answered by the server */
    }
    if (!f.final) {
        return fail(ws, req, WS_RX_ERR_PROTOCOL, 1002, "fragmented messages are not accepted by this gateway");
    }
    if (!utf8_valid(buf, f.len)) {
        return fail(ws, req, WS_RX_ERR_BAD_UTF8, 1007, "text message is not valid UTF-8");
    }
    int fd = httpd_req_to_sockfd(req);
    xSemaphoreTake(ws->mu, portMAX_DELAY);
    ws_client_t *c = find(ws, fd);
    api_ws_sub_t s = c ? c->sub : (api_ws_sub_t){0};
    xSemaphoreGive(ws->mu);
    if (!c) {
        return ESP_OK;
    }
    int rc = api_ws_parse((const char *)buf, f.len, &s);
    if (rc != TB_OK) {
        atomic_fetch_add(&ws->api->n.rejected[rc == TB_ERR_RANGE ? API_REJ_BAD_VALUE : API_REJ_BAD_JSON], 1u);
        return ESP_OK;
    }
    xSemaphoreTake(ws->mu, portMAX_DELAY);
    if ((c = find(ws, fd)) != NULL) {
        c->sub = s;
    }
    xSemaphoreGive(ws->mu);
    xTaskNotifyGive(ws->task);
    return ESP_OK;
}

void http_ws_closed(http_ws_t *ws, int fd)
{
    if (!ws) {
        return;
    }
    xSemaphoreTake(ws->mu, portMAX_DELAY);
    ws_client_t *c = find(ws, fd);
    if (c) {
        c->fd = -1;
    }
    xSemaphoreGive(ws->mu);
}

/* Runs in the server task: the only task that writes to its sockets. */
static void send_job(void *arg)
{
    http_ws_t *ws = arg;
    httpd_ws_frame_t f = {.final = true, .type = HTTPD_WS_TYPE_TEXT, .payload = (uint8_t *)ws->buf, .len = ws->job_len};
    http_service_push(ws->hd, ws->job_fd, true);
    ws->job_rc = httpd_ws_send_frame_async(ws->hd, ws->job_fd, &f);
    http_service_push(ws->hd, ws->job_fd, false);
    xSemaphoreGive(ws->sent);
}

static void count(http_ws_t *ws, uint64_t *n)
{
    xSemaphoreTake(ws->mu, portMAX_DELAY);
    (*n)++;
    xSemaphoreGive(ws->mu);
}

static bool send_to(http_ws_t *ws, int fd, size_t len)
{
    ws->job_fd = fd;
    ws->job_len = len;
    ws->job_rc = ESP_FAIL;
    if (httpd_queue_work(ws->hd, send_job, ws) != ESP_OK) {
        count(ws, &ws->n_skipped);
        return true; /* the server's queue is full: try again with the next view */
    }
    (void)xSemaphoreTake(ws->sent, portMAX_DELAY);
    if (ws->job_rc != ESP_OK) {
        /* a client that does not read (send timeout) or went away */
        count(ws, &ws->n_dropped);
        (void)httpd_sess_trigger_close(ws->hd, fd);
        http_ws_closed(ws, fd);
        return false;
    }
    count(ws, &ws->n_sent);
    return true;
}

/* Renderers run under the view store's lock (view_store_read): no copy of the ~14 kB view. */
typedef struct {
    http_ws_t *ws;
    int kind;            /* 0 status, 1 events, 2 can */
    uint32_t event_seq;  /* out: the view's */
    api_web_cfg_t web;
} render_t;

static int render(const gw_view_t *v, void *ctx)
{
    render_t *r = ctx;
    r->event_seq = v->event_seq;
    r->web = v->cfg.web;
    switch (r->kind) {
    case 0: return api_ws_status(r->ws->buf, MSG_MAX, v->status_json, v->status_len);
    case 1: return api_ws_events(r->ws->buf, MSG_MAX, v);
    case 2: return api_ws_can(r->ws->buf, MSG_MAX, v);
    default: return 0; /* only the figures above */
    }
}

static void pusher(void *arg)
{
    http_ws_t *ws = arg;
    uint64_t seq = 0;
    for (;;) {
        uint64_t s = view_store_wait(ws->views, seq, NULL, 250);
        api_tick(ws->api); /* session expiry, security log summaries */
        render_t rd = {ws, 3, 0, {0}};
        if (view_store_read(ws->views, render, &rd) < 0) {
            continue; /* nothing published yet */
        }
        if (s != 0) {
            seq = s;
            api_set_web_cfg(ws->api, &rd.web);
        }
        uint32_t now = esp_now_ms();
        uint32_t interval = 1000u / (uint32_t)atomic_load(&ws->api->ws_rate_hz);
        for (int i = 0; i < HTTP_WS_MAX; i++) {
            xSemaphoreTake(ws->mu, portMAX_DELAY);
            ws_client_t c = ws->c[i];
            xSemaphoreGive(ws->mu);
            if (c.fd < 0) {
                continue;
            }
            bool alive = true;
            if (c.sub.status && api_ws_rate_wait(&c.status_rate, now, interval) == 0) {
                rd.kind = 0;
                int n = view_store_read(ws->views, render, &rd);
                if (n > 0) {
                    alive = send_to(ws, c.fd, (size_t)n);
                    api_ws_rate_sent(&c.status_rate, now, interval);
                }
            }
            if (alive && c.sub.events && c.event_seq != rd.event_seq) {
                if (c.event_seq != UINT32_MAX) {
                    rd.kind = 1;
                    int n = view_store_read(ws->views, render, &rd);
                    if (n > 0) {
                        api_ws_utf8_sanitize(ws->buf, (size_t)n);
                        alive = send_to(ws, c.fd, (size_t)n);
                    }
                }
                c.event_seq = rd.event_seq;
            }
            if (alive && c.sub.can && api_ws_rate_wait(&c.can_rate, now, interval) == 0) {
                rd.kind = 2;
                int n = view_store_read(ws->views, render, &rd);
                if (n > 0) {
                    alive = send_to(ws, c.fd, (size_t)n);
                    api_ws_rate_sent(&c.can_rate, now, interval);
                }
            }
            while (alive && c.sub.log) {
                size_t n = log_read(c.log_seq, ws->logs, LOG_BATCH);
                if (n == 0) {
                    break;
                }
                size_t k = 0;
                for (size_t j = 0; j < n; j++) {
                    if (ws->logs[j].level <= c.sub.log_level) {
                        ws->logs[k++] = ws->logs[j];
                    }
                }
                uint64_t last = ws->logs[n - 1u].seq;
                if (k) {
                    int len = api_ws_log(ws->buf, MSG_MAX, ws->logs, k, last);
                    if (len > 0) {
                        api_ws_utf8_sanitize(ws->buf, (size_t)len);
                        alive = send_to(ws, c.fd, (size_t)len);
                    }
                }
                c.log_seq = last;
            }
            if (alive) {
                xSemaphoreTake(ws->mu, portMAX_DELAY);
                if (ws->c[i].fd == c.fd) {
                    /* the subscription may have changed meanwhile: keep the client's */
                    c.sub = ws->c[i].sub;
                    ws->c[i] = c;
                }
                xSemaphoreGive(ws->mu);
            }
        }
    }
}

http_ws_t *http_ws_start(httpd_handle_t hd, api_t *api, view_store_t *views, int max_clients)
{
    http_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws) {
        return NULL;
    }
    ws->buf = malloc(MSG_MAX);
    if (!ws->buf) {
        free(ws);
        return NULL;
    }
    ws->hd = hd;
    ws->api = api;
    ws->views = views;
    ws->max_clients = max_clients < 1 ? 1 : max_clients > HTTP_WS_MAX ? HTTP_WS_MAX : max_clients;
    ws->mu = xSemaphoreCreateMutexStatic(&ws->mu_buf);
    ws->sent = xSemaphoreCreateBinaryStatic(&ws->sent_buf);
    for (int i = 0; i < HTTP_WS_MAX; i++) {
        ws->c[i].fd = -1;
    }
    if (xTaskCreate(pusher, "ws_push", PUSHER_STACK, ws, 4, &ws->task) != pdPASS) {
        LOGE("web", "cannot create the WebSocket task: /ws serves nothing");
    }
    return ws;
}

void http_ws_stats(http_ws_t *ws, uint32_t *clients, uint64_t *sent, uint64_t *skipped, uint64_t *dropped)
{
    uint32_t n = 0;
    xSemaphoreTake(ws->mu, portMAX_DELAY);
    for (int i = 0; i < HTTP_WS_MAX; i++) {
        n += ws->c[i].fd >= 0;
    }
    *sent = ws->n_sent;
    *skipped = ws->n_skipped;
    *dropped = ws->n_dropped;
    xSemaphoreGive(ws->mu);
    *clients = n;
}
