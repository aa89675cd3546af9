/* api: the gateway's REST API (and its static UI) as request -> response functions, independent of
 * any HTTP server. ports/linux/http_service.c adapts civetweb to it; an ESP-IDF port can adapt
 * esp_http_server the same way. Every endpoint is documented in docs/api.md.
 *
 * A request is plain data (api_req_t); api_handle() routes it, applies the security rules and
 * fills an api_resp_t. Rules, in this order, for every request:
 *   1. a body the adapter refused for its size      -> 413 (nothing parsed)
 *   2. unknown path -> 404; known path, wrong method -> 405 with Allow
 *   3. POST/PUT/DELETE: cross-origin (auth_same_origin) -> 403; then, except for the login and
 *      set-up endpoints, no valid session -> 401
 *   4. GET of the API while web.read_only_open is false, without a session -> 401
 *   5. the handler: bad JSON / wrong type / out of range -> 400 {"error","field","reason"}
 * Every refusal is counted (api_counters_t, exposed by /metrics) and changes nothing.
 *
 * The API never reads gateway state directly: it copies the latest published view, the history
 * and the log ring through api_port_t, and sends changes to the owner thread as gw_cmd_t commands.
 *
 * Threads: api_handle() may run concurrently on any number of threads. Memory: responses are
 * heap-allocated per request (api_resp_free), bounded by the largest endpoint (history 7 d, about
 * 1 MB of JSON); api_t itself is small.
 */
#ifndef APP_API_H
#define APP_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api_cfg.h"
#include "app/auth.h"
#include "app/gw_cmd.h"
#include "app/gw_view.h"
#include "app/history.h"
#include "app/ws_rx.h"

typedef enum { API_GET, API_HEAD, API_POST, API_PUT, API_DELETE, API_PATCH, API_OPTIONS, API_OTHER } api_method_t;

typedef struct {
    api_method_t method;
    const char *path;          /* "/api/status", without the query; percent-decoding not applied */
    const char *query;         /* "range=1h" (without '?'), or NULL */
    const char *host;          /* headers, NULL when absent */
    const char *origin;
    const char *referer;
    const char *sec_fetch_site;
    const char *cookie;
    const char *accept_encoding;
    const char *if_none_match;
    const char *body;          /* NULL if none; not NUL-terminated necessarily */
    size_t body_len;
    bool body_too_large;       /* the adapter stopped reading: larger than web.max_body_bytes */
    const char *peer;          /* client address as text (rate limiting, logs) */
    /* Optional buffer of the caller (e.g. one per server thread) that handlers may use for the
     * response body instead of allocating: GET /api/status copies the view's JSON into it when
     * scratch_cap >= GW_STATUS_JSON_MAX. It must stay valid until the response is sent. */
    char *scratch;
    size_t scratch_cap;
    /* A body the adapter did not read, for the routes api_streams_body() names (the firmware
     * update): body_read() reads up to cap bytes of it and returns the count, 0 at its end, < 0
     * when the connection failed or timed out; content_length is what the client declared. With
     * body_read NULL such a route reads body/body_len. */
    int (*body_read)(void *ctx, void *buf, size_t cap);
    void *body_ctx;
    size_t content_length;
} api_req_t;

#define API_HEADERS_MAX 640u

typedef struct {
    int status;
    const char *content_type;  /* static string */
    char headers[API_HEADERS_MAX]; /* extra header lines, each ending in "\r\n" */
    size_t headers_len;
    const char *body;          /* body bytes (heap or static) */
    size_t len;
    char *heap;                /* owned buffer to free, or NULL */
    bool cacheable;            /* static asset: the adapter may let caches keep it */
} api_resp_t;

/* A static asset of the UI, usually generated from web/ at build time. */
typedef struct {
    const char *path;          /* "/index.html" */
    const char *content_type;
    const unsigned char *data; /* identity encoding */
    size_t len;
    const unsigned char *gz;   /* gzip encoding, or NULL */
    size_t gz_len;
    const char *etag;          /* "\"sha256-prefix\"" */
} api_asset_t;

/* Figures of a microcontroller port (heap and task stacks) for GET /api/system and /metrics. */
#define API_TASKS_MAX 10u
typedef struct {
    uint32_t heap_free;        /* bytes free now */
    uint32_t heap_min_free;    /* lowest since start */
    uint32_t heap_largest;     /* largest free block */
    char reset_reason[32];     /* why the chip last started: "power-on", "panic", "task watchdog", ... */
    uint32_t ntasks;
    struct {
        char name[16];
        uint32_t stack_free;   /* bytes of its stack never used since it started (high-water mark) */
    } task[API_TASKS_MAX];
    /* Resets by cause, counted across restarts (kept in flash by the port) since its storage was
     * last erased; has_resets false: not known. "watchdog" is the task, interrupt and other ones. */
    bool has_resets;
    uint32_t resets_brownout, resets_panic, resets_watchdog;
    /* The CAN controller since start: bus-off events, recoveries from them, error-passive and
     * error-warning entries. has_can_bus false: not known. */
    bool has_can_bus;
    uint64_t can_bus_off, can_recoveries, can_error_passive, can_error_warning;
} api_platform_t;

/* Firmware updates over the network (POST /api/system/ota; docs/api.md). The outcome of an upload. */
typedef enum {
    API_OTA_OK,
    API_OTA_NO_LENGTH,     /* no Content-Length (or 0): 411 */
    API_OTA_TOO_LARGE,     /* larger than the update slot: 413 */
    API_OTA_BAD_MAGIC,     /* not an ESP application image: 400 */
    API_OTA_WRONG_CHIP,    /* an image for another chip: 400 */
    API_OTA_NOT_THIS_APP,  /* an ESP-IDF image, but not this gateway (or no application description): 400 */
    API_OTA_TRUNCATED,     /* the body ended (or stalled) before Content-Length: 400 */
    API_OTA_VERIFY_FAILED, /* the written image failed its verification (checksum, SHA-256, segments): 400 */
    API_OTA_FLASH_ERROR,   /* the update slot could not be prepared, written or selected: 500 */
    API_OTA_BUSY,          /* another upload is running: 409 */
    API_OTA_COUNT
} api_ota_result_t;

const char *api_ota_result_name(api_ota_result_t r);

/* The update state of a firmware, for GET /api/system ("platform"."ota"). Strings are "" when unknown. */
typedef struct {
    bool available;             /* an update slot exists */
    uint32_t slot_bytes;        /* size of the slot an upload is written to */
    uint16_t chip_id;           /* this chip (app/ota_img.h OTA_CHIP_*) */
    char project[33];           /* the project name an image must carry */
    char running[17];           /* partition label of the running image ("ota_0") */
    char version[33];           /* its version */
    char state[24];             /* its state: "valid", "pending_verify", "undefined", ... */
    int32_t verify_left_s;      /* pending_verify: seconds left to prove the battery path; else -1 */
    char next_boot[17];         /* partition the next boot starts */
    char update_slot[17];       /* partition an upload goes to */
    char last_result[24];       /* last upload since start (a success is kept across the restart), "" if none */
    char last_version[33];
    char last_detail[160];
    char rolled_back_partition[17]; /* an image the bootloader or the probation rejected, "" if none */
    char rolled_back_version[33];
} api_ota_state_t;

/* The update slot of a firmware. Calls come from the HTTP thread; one upload at a time. */
typedef struct {
    void (*state)(void *ctx, api_ota_state_t *out);
    /* Prepare the update slot for len bytes: TB_OK, TB_ERR_BUSY (an upload runs), other (err says). */
    int (*begin)(void *ctx, size_t len, char *err, size_t cap);
    int (*write)(void *ctx, const void *p, size_t n, char *err, size_t cap);
    /* Verify the whole image and make it the next boot: TB_OK, TB_ERR_CRC (the image failed its
     * verification), other (flash). */
    int (*finish)(void *ctx, char *err, size_t cap);
    void (*abort)(void *ctx);   /* after begin: drop what was written (the slot stays unused) */
    /* Every upload's outcome (the firmware keeps the last one). */
    void (*record)(void *ctx, api_ota_result_t r, const char *version, const char *detail);
    void *ctx;
} api_ota_port_t;

/* What the API needs from the platform. Every callback may be called from any HTTP thread. */
typedef struct {
    /* Copy the latest published view. false if nothing has been published yet. */
    bool (*view)(void *ctx, gw_view_t *out);
    /* Copy the pre-rendered status JSON (gw_view_t.status_json) into buf; returns its length,
     * 0 if nothing has been published yet. Cheap: /api/status is served from it as is. */
    size_t (*status)(void *ctx, char *buf, size_t cap);
    /* Run a command on the owner thread and wait up to timeout_ms (cmdq_call semantics:
     * TB_OK with the result in *cmd, TB_ERR_BUSY queue full, TB_ERR_TIMEOUT). */
    int (*command)(void *ctx, gw_cmd_t *cmd, int timeout_ms);
    /* Copy the history of a range (history_get semantics). */
    size_t (*history)(void *ctx, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap);
    uint32_t (*now_ms)(void *ctx);   /* monotonic */
    uint64_t (*wall_ms)(void *ctx);  /* ms since the epoch, 0 if unknown */
    /* Wait until a view newer than the latest one at the time of the call is published (so that
     * a change the owner just applied is visible to the next read), at most timeout_ms. May be NULL. */
    void (*sync)(void *ctx, int timeout_ms);
    /* Optional figures of the transport for /metrics and /api/system; may be NULL. */
    void (*transport_stats)(void *ctx, uint32_t *ws_clients, uint64_t *ws_sent, uint64_t *ws_skipped,
                            uint64_t *ws_dropped);
    void *ctx;
    /* Optional (NULL on Linux): heap and stack figures of a firmware; "platform" in /api/system. */
    void (*platform)(void *ctx, api_platform_t *out);
    /* Optional (NULL on Linux: POST /api/system/ota answers 501): the firmware's update slot. */
    const api_ota_port_t *ota;
} api_port_t;

typedef struct {
    const char *version;       /* gateway version */
    const char *server;        /* "civetweb 1.15" */
    bool demo;
    const char *config_path;
    const char *state_dir;
    const char *http_listen;
    const api_asset_t *assets; /* the UI; may be NULL */
    size_t asset_count;
} api_info_t;

/* Refusals and other counters (monotonic since start). */
typedef enum {
    API_REJ_BAD_JSON,          /* 400: syntax, wrong type, missing field */
    API_REJ_BAD_VALUE,         /* 400: out of range, unknown key, refused by validation */
    API_REJ_TOO_LARGE,         /* 413 */
    API_REJ_UNAUTHENTICATED,   /* 401 */
    API_REJ_CROSS_ORIGIN,      /* 403 */
    API_REJ_NOT_FOUND,         /* 404 */
    API_REJ_METHOD,            /* 405 */
    API_REJ_BUSY,              /* 409 */
    API_REJ_RATE_LIMITED,      /* 429 */
    API_REJ_UNAVAILABLE,       /* 503 (no data yet, BMS settings not read) */
    API_REJ_TIMEOUT,           /* 504 / 502 (BMS did not answer, refused the write) */
    API_REJ_CONN_PER_ADDR,     /* connection refused: web.max_conns_per_addr reached (503) */
    API_REJ_CONN_TOTAL,        /* connection refused: web.max_connections reached (503) */
    API_REJ_HEADER_TIMEOUT,    /* connection closed: no complete header within web.header_timeout_ms (408) */
    API_REJ_UNSUPPORTED,       /* 501: not on this platform (the firmware update on Linux) */
    API_REJ_COUNT
} api_reject_t;

const char *api_reject_name(api_reject_t r);

typedef struct {
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t by_class[6];          /* 1xx..5xx by status / 100; [0] unused */
    atomic_uint_fast64_t rejected[API_REJ_COUNT];
    atomic_uint_fast64_t commands;             /* commands sent to the owner */
    atomic_uint_fast64_t bms_writes_ok;
    atomic_uint_fast64_t ws_failed[WS_RX_ERR_COUNT]; /* WebSocket connections failed for a client's
                                                        protocol violation (RFC 6455), by reason */
    atomic_uint_fast64_t ota[API_OTA_COUNT];   /* firmware uploads by outcome */
} api_counters_t;

typedef struct {
    api_port_t port;
    api_info_t info;
    auth_t *auth;
    uint32_t start_ms;
    api_counters_t n;
    atomic_int max_body;        /* web.max_body_bytes (for the adapter) */
    atomic_int ws_rate_hz;
    size_t ui_bytes, ui_gz_bytes;
} api_t;

/* auth must outlive api. cfg: the web section at start (api_set_web_cfg() for changes). */
void api_init(api_t *api, const api_port_t *port, const api_info_t *info, auth_t *auth, const api_web_cfg_t *cfg);
/* The web section changed (any thread): body limit, read-only policy, sessions, rate limits. */
void api_set_web_cfg(api_t *api, const api_web_cfg_t *cfg);

/* Route and answer one request. resp is fully initialised here; call api_resp_free() after
 * sending. Never fails: errors become JSON error responses. */
void api_handle(api_t *api, const api_req_t *req, api_resp_t *resp);
/* Housekeeping about once a second (any thread): session expiry and the security log's summary
 * lines (auth_tick()). */
void api_tick(api_t *api);
void api_resp_free(api_resp_t *resp);

/* Helpers shared with the transport adapters. */
api_method_t api_method_parse(const char *m);
/* A JSON error body {"error":code,"field":field,"reason":reason} with status; counts rej. */
void api_error(api_t *api, api_resp_t *resp, int status, api_reject_t rej, const char *code, const char *field,
               const char *reason);
/* Value of key in a query string ("a=1&b=2"), percent-decoded into out. Returns 1 if found, 0 if
 * absent (out untouched), -1 if the value does not fit in cap or decodes to a NUL byte. */
int api_query_get(const char *query, const char *key, char *out, size_t cap);
/* True if the adapter should not read the body of this request but stream it through
 * req->body_read (the firmware update: an image is larger than the RAM). Looks at the method and
 * path only; the security rules still apply in api_handle(). */
bool api_streams_body(const api_t *api, const api_req_t *req);
/* True if the request may read (session or read-only open), used by the WebSocket handshake. */
bool api_may_read(api_t *api, const api_req_t *req);
/* Append "Name: value\r\n" to resp->headers (dropped, never truncated, if it does not fit). */
void api_add_header(api_resp_t *resp, const char *name, const char *value);

#endif
