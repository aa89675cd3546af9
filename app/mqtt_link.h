/* mqtt_link: the MQTT connection's policy that both ports follow, independent of any MQTT library.
 *
 * ports/linux/mqtt_service.c (libmosquitto) and ports/esp-idf/main/mqtt_service.c (esp-mqtt) own
 * the connection, their threads or tasks, their locks and the publishing; what they decide the
 * same way lives here, once:
 *   mqtt_link_stats_t      the service's counters (metrics, the <base>/mqtt document);
 *   mqtt_link_report_*     when the <base>/mqtt document is due, and its JSON;
 *   mqtt_link_retry()      the reconnect back-off: MQTT_BACKOFF_MIN_MS doubling up to
 *                          MQTT_BACKOFF_MAX_MS with +-20 % jitter, which failures count as connect
 *                          failures, and the failure's log line, once per distinct reason;
 *   mqtt_link_id_*         which device id the topics and Home Assistant use (docs/mqtt.md):
 *                          gateway.device_id, else the remembered one, else the BMS serial number
 *                          (then remembered through the port), else after MQTT_ID_WAIT_MS the
 *                          port's fallback from the machine;
 *   mqtt_link_names()      a client's base topic and client id;
 *   mqtt_link_topic()      whether a received message is a command;
 *   mqtt_link_cmd_*        what a received command gets: refused (commands disabled, retained),
 *                          malformed, or sent to the owner, and the answer and counter of each
 *                          outcome of that (done, failed, busy, no answer in time).
 *
 * No OS calls: time is a now_ms argument, randomness a number the port passes (rand(),
 * esp_random()). Log lines go through app/log.h (module "mqtt"). No allocation.
 * Thread safety: none; each state struct is used by one thread (the ports' network thread or task
 * for the back-off, the device id and the report; the command functions keep no state). The
 * counters are the port's, under its lock: mqtt_link_stats_count() only increments one.
 */
#ifndef APP_MQTT_LINK_H
#define APP_MQTT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/gw_cmd.h"
#include "app/mqtt_cfg.h"
#include "app/mqtt_cmd.h"
#include "app/mqtt_id.h"

#define MQTT_BACKOFF_MIN_MS 1000u
#define MQTT_BACKOFF_MAX_MS 60000u
#define MQTT_ID_WAIT_MS 10000u       /* wait this long for the BMS serial number (device id) */
#define MQTT_LINK_STATS_EVERY_MS 60000u /* <base>/mqtt at least this often while connected */
#define MQTT_LINK_STATS_MIN_GAP_MS 1000u /* and at most this often when counters change */
#define MQTT_LINK_STATS_JSON_MAX 512u /* the <base>/mqtt document (447 bytes with every counter at its
                                       * largest: tests/unit/test_mqtt_link.c) */
#define MQTT_LINK_ERR_MAX 160u       /* a failure's reason as remembered (a longer one is cut) */

/* ---- counters ---------------------------------------------------------------------------------- */

/* The service's counters, for the metrics and the <base>/mqtt document. */
typedef struct {
    bool enabled;
    bool connected;
    uint64_t connects;          /* CONNACKs accepted */
    uint64_t connect_failures;  /* attempts that failed (refused, unreachable, TLS, timeout) */
    uint64_t disconnects;       /* established connections lost */
    uint64_t published;         /* messages handed to the MQTT library */
    uint64_t deferred;          /* publications postponed: backlog full */
    uint32_t backlog;           /* messages not yet acknowledged / written */
    uint64_t cmd_received;
    uint64_t cmd_ok;            /* executed, rc == 0 */
    uint64_t cmd_failed;        /* executed and failed (validation by the owner, BMS error, timeout) */
    uint64_t cmd_refused;       /* commands disabled, or retained */
    uint64_t cmd_malformed;     /* unknown topic, bad payload, too large */
    uint64_t cmd_busy;          /* queue full */
} mqtt_link_stats_t;

/* The counter a command's outcome moves. */
typedef enum {
    MQTT_LINK_COUNT_NONE = 0,
    MQTT_LINK_COUNT_OK,
    MQTT_LINK_COUNT_FAILED,
    MQTT_LINK_COUNT_REFUSED,
    MQTT_LINK_COUNT_MALFORMED,
    MQTT_LINK_COUNT_BUSY
} mqtt_link_count_t;

/* Increment the counter `which` names in *st (nothing for MQTT_LINK_COUNT_NONE). The caller holds
 * the lock that protects *st. */
void mqtt_link_stats_count(mqtt_link_stats_t *st, mqtt_link_count_t which);

/* ---- the <base>/mqtt document ---------------------------------------------------------------- */

/* What was last published (zeroed memory is a valid start). */
typedef struct {
    mqtt_link_stats_t seen;
    bool seen_commands;
    uint32_t sent_ms;
} mqtt_link_report_t;

/* After each CONNACK: the document is due at once. */
void mqtt_link_report_connected(mqtt_link_report_t *r, uint32_t now_ms);

/* While connected, whether to publish now: not within MQTT_LINK_STATS_MIN_GAP_MS of the last one;
 * after that when the connects, a command counter or the commands flag changed since it, else
 * once MQTT_LINK_STATS_EVERY_MS have passed. st: a copy of the counters; commands: mqtt.commands. */
bool mqtt_link_report_due(const mqtt_link_report_t *r, const mqtt_link_stats_t *st, bool commands, uint32_t now_ms);

/* Render the document (docs/mqtt.md) into (out, cap); events_lost from mqtt_pub_t.stats.
 * Length (out NUL-terminated) or TB_ERR_NOSPACE; MQTT_LINK_STATS_JSON_MAX always suffices. */
int mqtt_link_report_json(const mqtt_link_stats_t *st, uint64_t events_lost, bool commands, char *out, size_t cap);

/* The document rendered from st and commands was accepted by the port at now_ms. */
void mqtt_link_report_sent(mqtt_link_report_t *r, const mqtt_link_stats_t *st, bool commands, uint32_t now_ms);

/* ---- reconnect back-off ---------------------------------------------------------------------- */

typedef struct {
    uint32_t backoff_ms;        /* the next delay before jitter, MQTT_BACKOFF_MIN_MS..MAX */
    uint32_t retry_at;          /* when the next attempt is due (set by mqtt_link_retry) */
    bool lost;                  /* mqtt_link_lost() since the last retry */
    char last_error[MQTT_LINK_ERR_MAX]; /* the last reason logged ("" none): a repeat is not logged */
} mqtt_link_backoff_t;

/* A new client (call it before the first mqtt_link_retry), or a CONNACK: the next failure waits
 * MQTT_BACKOFF_MIN_MS (+-20 %) and is logged whatever its reason. */
void mqtt_link_backoff_reset(mqtt_link_backoff_t *b);

/* An established connection was lost: the next mqtt_link_retry() is no connect failure. why: the
 * reason, logged as "connection to HOST:PORT lost (why); reconnecting" ("" for none: the line
 * without the parentheses) and remembered as the last reason; NULL: nothing logged (an orderly
 * disconnect). c: the connection's configuration (host and port for the line). */
void mqtt_link_lost(mqtt_link_backoff_t *b, const mqtt_cfg_t *c, const char *why);

/* An attempt failed or a lost connection is to be retried: logs "HOST:PORT: why; retrying
 * (back-off up to 60 s)" unless why is NULL or the last reason logged (one final '.' of why is left
 * out of the line: libmosquitto's texts end with one), sets b->retry_at to now_ms plus the back-off
 * with +-20 % jitter (rnd: any 32-bit random number; every value gives a delay within the
 * bounds), then doubles the back-off up to MQTT_BACKOFF_MAX_MS. Returns true when the failure is
 * to be counted in connect_failures: always, except right after mqtt_link_lost(). */
bool mqtt_link_retry(mqtt_link_backoff_t *b, const mqtt_cfg_t *c, uint32_t now_ms, const char *why, uint32_t rnd);

/* ---- device id --------------------------------------------------------------------------------- */

typedef struct {
    /* Remember id (a slug, NUL-terminated) for the next start. TB_OK, or a TB_ERR_* with a
     * NUL-terminated reason in (err, err_cap), which is logged. */
    int (*save)(void *ctx, const char *id, char *err, size_t err_cap);
    /* The id to use when neither the configuration nor the BMS gives one (from the machine: never
     * remembered, so that the serial number replaces it at a later start), into (out, cap). */
    void (*fallback)(void *ctx, char *out, size_t cap);
    void *ctx;
    const char *where;          /* where save() keeps it, for the log line ("NVS", a file name);
                                 * must outlive the mqtt_link_id_t */
} mqtt_link_id_port_t;

typedef struct {
    mqtt_link_id_port_t port;
    char remembered[MQTT_DEVICE_ID_MAX]; /* "" when none */
    bool fallback_logged;
} mqtt_link_id_t;

void mqtt_link_id_init(mqtt_link_id_t *d, const mqtt_link_id_port_t *port);

/* What the port read back from where save() keeps the id, at start (no NUL needed): trailing
 * newlines and spaces are dropped, the rest taken as a slug; an empty text remembers nothing.
 * At most MQTT_DEVICE_ID_MAX - 1 bytes are read. */
void mqtt_link_id_loaded(mqtt_link_id_t *d, const char *text, size_t len);

/* The device id (a slug) into (out, cap), in this order: cfg_id (gateway.device_id) when not
 * empty; the remembered one; the BMS serial number (serial: registers 504-509, NULL while not read)
 * when it carries one, which is then saved (a failure is logged; the id is used all the same); and
 * once waited_ms (since the first view) reaches MQTT_ID_WAIT_MS, the port's fallback (logged once).
 * Returns false while it is worth waiting for the serial number (out is then not to be used). */
bool mqtt_link_id_resolve(mqtt_link_id_t *d, const char *cfg_id, const uint16_t *serial, uint32_t waited_ms,
                          char *out, size_t cap);

/* ---- names and topics ----------------------------------------------------------------------------- */

/* The names of a client for configuration c and device id (a slug): the base topic
 * (c->base_topic with {device_id} replaced, into (base, base_cap), which must leave 8 bytes for
 * the longest suffix the service appends: MQTT_TOPIC_MAX) and the client id (c->client_id, else
 * "tinybms-gw-" and at most 40 characters of the device id, into (client_id, client_cap)).
 * false, with an error line, when the base is not a valid topic (MQTT then stays off until the
 * configuration changes). */
bool mqtt_link_names(const mqtt_cfg_t *c, const char *device_id, char *base, size_t base_cap, char *client_id,
                     size_t client_cap);

typedef enum {
    MQTT_LINK_TOPIC_OTHER = 0, /* not under <base>/cmd/ (a discovery document, or base is "") */
    MQTT_LINK_TOPIC_RESULT,    /* <base>/cmd/result: the gateway's own answers */
    MQTT_LINK_TOPIC_CMD        /* a command: *sub, *sub_len the part after "<base>/cmd/" (not empty) */
} mqtt_link_topic_t;

/* Classify a received topic (topic[0..len), no NUL needed) against the base topic (NUL-terminated).
 * sub and sub_len are written only for MQTT_LINK_TOPIC_CMD and MQTT_LINK_TOPIC_RESULT. */
mqtt_link_topic_t mqtt_link_topic(const char *base, const char *topic, size_t len, const char **sub, size_t *sub_len);

/* ---- commands ---------------------------------------------------------------------------------- */

/* What a received command gets. The pointers are static strings, or point into the parsed request
 * of this struct or the gw_cmd_t given to mqtt_link_cmd_done(): valid while both are. */
typedef struct {
    mqtt_cmd_req_t req;         /* the request as parsed (req.id_json echoed even when malformed) */
    const char *command;        /* its topic suffix ("bms/set"), NULL when the topic is unknown */
    bool run;                   /* admitted: send it to the owner (mqtt_cmd_to_gw(&req, ...)), then
                                 * call mqtt_link_cmd_done() */
    int rc;                     /* the answer (rc, status, message, result JSON or NULL) */
    int status;
    const char *message;
    const char *result;
    mqtt_link_count_t count;    /* the counter this outcome moves */
} mqtt_link_cmd_t;

/* Admission of a command received on <base>/cmd/<sub> (payload: len bytes; too_large: the payload
 * was larger than MQTT_CMD_PAYLOAD_MAX and not kept; retained: it arrived with the retain flag;
 * enabled: mqtt.commands). In this order: commands disabled -> 403, refused; retained -> 400,
 * refused; malformed (unknown topic 404, too large 413, else 400, with the parser's reason) ->
 * malformed; else run. Each refusal is logged. */
void mqtt_link_cmd_admit(mqtt_link_cmd_t *v, const char *sub, size_t sub_len, const uint8_t *payload, size_t len,
                         bool too_large, bool retained, bool enabled);

/* The outcome of an admitted command: qrc is what the command queue returned, c the command.
 * TB_OK: the owner's rc, status, message and result (ok when c->rc is TB_OK, else failed; logged);
 * TB_ERR_BUSY: 503 "the gateway is busy", busy; anything else: 504 "no answer in time", failed. */
void mqtt_link_cmd_done(mqtt_link_cmd_t *v, int qrc, const gw_cmd_t *c);

/* A refusal the port decides itself (e.g. no memory for the command): not run, this answer, and
 * count as the counter it moves; no result. */
void mqtt_link_cmd_answer(mqtt_link_cmd_t *v, mqtt_link_count_t count, int rc, int status, const char *message);

/* The answer to a command that found the port's queue full: 503 "too many commands waiting", with
 * the request's id when it can be read. count is MQTT_LINK_COUNT_NONE: the port counts busy when it
 * refuses the command, before it answers. */
void mqtt_link_cmd_busy(mqtt_link_cmd_t *v, const char *sub, size_t sub_len, const uint8_t *payload, size_t len);

#endif
