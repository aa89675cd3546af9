#include "mqtt_service.h"

#include "ota.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/log.h"
#include "app/mqtt_cmd.h"
#include "app/mqtt_id.h"
#include "app/mqtt_link.h"
#include "app/mqtt_pub.h"
#include "clock.h"
#include "core/tb_err.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "mqtt_client.h"
#include "storage.h"

#define M "mqtt"
#define TASK_STACK 4096u       /* mqtt_pub_step under the view lock used 3 kB: docs/performance.md */
#define TASK_PRIO 3            /* below the web server (5), the WebSocket pusher (4) and the owner (10) */
#define CMD_STACK 3584u
#define ESP_MQTT_STACK 3072    /* esp-mqtt's task (2 kB used across a stalled broker): its event handler only
                                * records and queues */
#define ESP_MQTT_PRIO 3
#define IN_BUF 512             /* received messages (a topic fits); a longer one arrives in parts */
#define OUT_BUF 512            /* a publication's header and topic fit; its payload is written in parts.
                                * Larger when CONNECT (will topic, credentials) needs it */
#define NET_TIMEOUT_MS 10000   /* a write or CONNACK that takes longer: the connection is dropped */
#define ESP_OUTBOX_LIMIT (8u * 1024u) /* esp-mqtt's copies of unacknowledged QoS 1/2 messages (a 5.2 kB state
                                      * document must fit) */
#define LOOP_MS 200            /* view wait granularity (timers: back-off, state interval) */
#define BUSY_LOOP_MS 20        /* when a step was refused room: come back soon */
#define FLUSH_MS 2000u         /* orderly disconnect: wait this long for the last messages */
#define ID_KEY "mqtt_device_id" /* NVS (storage.c's namespace) */

typedef enum { OB_PUB, OB_SUB, OB_UNSUB } ob_op_t;

/* A message (or a subscription) waiting to be handed to esp-mqtt: heap, only while in flight. */
typedef struct ob_msg {
    struct ob_msg *next;
    uint8_t op;
    bool retain;
    uint32_t len;
    char buf[]; /* topic, NUL, payload */
} ob_msg_t;

typedef struct {
    char sub[64];
    size_t sub_len;
    size_t len;
    bool too_large;
    bool retained;
    uint8_t payload[MQTT_CMD_PAYLOAD_MAX];
} cmd_item_t;

struct mqtt_service {
    gw_services_t svc;
    TaskHandle_t task;

    /* ---- shared, under mu ----
     * Lock order: the view store's lock, then mu. Nobody calls esp-mqtt while holding either:
     * esp-mqtt's own task holds its API lock while it runs the event handler (which takes mu) and
     * while it writes to the broker, so an esp-mqtt call under mu or under the view lock could make
     * the owner wait for the network. Every mqtt_pub_* call is made under mu (the handler calls
     * mqtt_pub_retained); the port functions it calls only append to the outbox. */
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    mqtt_pub_t *pub;               /* heap, while MQTT is enabled */
    bool connected;
    bool ev_connected, ev_lost, ev_failed; /* from the handler, for the mqtt task */
    char ev_err[128];              /* what the handler learnt about the last failure */
    int qos;
    char base[MQTT_TOPIC_MAX];
    bool commands_enabled;
    cmd_item_t *queue[MQTT_CMD_QUEUE];
    unsigned q_head, q_count;
    TaskHandle_t cmd_task;         /* NULL when not running */
    cmd_item_t *busy[MQTT_CMD_QUEUE]; /* refused for a full queue, to be answered by the mqtt task */
    unsigned busy_count;
    ob_msg_t *replies, *replies_tail; /* command results, published by the mqtt task */
    mqtt_service_stats_t st;

    /* ---- esp-mqtt's task only ---- */
    cmd_item_t *rx;                /* a command whose payload arrives in several parts */
    size_t rx_total;

    /* ---- mqtt task only ---- */
    esp_mqtt_client_handle_t client;
    uint64_t view_seq;
    uint32_t first_view_ms;
    uint32_t now;
    /* what the task reads from each view (under the view lock): no copy of the configuration, only
     * how it differs from run_cfg */
    bool v_enabled, v_commands;
    bool conn_diff;                /* a connection parameter or gateway.device_id differs from run_cfg */
    bool base_diff, id_diff;
    bool ver_valid;
    uint16_t serial[6];
    uint32_t event_seq;
    uint8_t recent_count;
    /* the connection */
    mqtt_cfg_t run_cfg;            /* the configuration of the client (or of the last attempt that could
                                    * not start), copied from the view when a client is created */
    char run_devid[sizeof(((gw_main_cfg_t *)0)->device_id)];
    bool create_failed;
    bool was_enabled;
    char device_id[MQTT_DEVICE_ID_MAX];
    mqtt_link_id_t id;
    char client_id[MQTT_CLIENT_ID_MAX + 16];
    bool waiting_retry;
    mqtt_link_backoff_t retry;
    bool v311_warned;
    mqtt_pub_carry_t carry;        /* what the last client left to the next (event numbering) */
    ob_msg_t *ob_head, *ob_tail;
    size_t ob_bytes;
    unsigned ob_count;
    bool step_busy;                /* the last step was refused room */
    size_t esp_outbox;             /* bytes in esp-mqtt's outbox before this pass */
    unsigned send_failures;        /* publications esp-mqtt refused on this connection */
    mqtt_link_report_t report;
};

static void lock(mqtt_service_t *s) { xSemaphoreTake(s->mu, portMAX_DELAY); }
static void unlock(mqtt_service_t *s) { xSemaphoreGive(s->mu); }

/* ---- outbox (mqtt task; filled under mu, emptied without any lock) ---------------------------- */

static ob_msg_t *msg_new(uint8_t op, const char *topic, const void *payload, size_t len, bool retain)
{
    size_t tl = strlen(topic);
    ob_msg_t *m = malloc(sizeof *m + tl + 1u + len);
    if (!m) {
        return NULL;
    }
    m->next = NULL;
    m->op = op;
    m->retain = retain;
    m->len = (uint32_t)len;
    memcpy(m->buf, topic, tl + 1u);
    if (len) {
        memcpy(m->buf + tl + 1u, payload, len);
    }
    return m;
}

static void ob_append(mqtt_service_t *s, ob_msg_t *m, size_t bytes)
{
    if (s->ob_tail) {
        s->ob_tail->next = m;
    } else {
        s->ob_head = m;
    }
    s->ob_tail = m;
    s->ob_bytes += bytes;
    s->ob_count++;
}

/* mqtt_pub_port_t: called under mu (and, from mqtt_pub_step, under the view lock) */
static int port_publish(void *ctx, const char *topic, const void *payload, size_t len, bool retain)
{
    mqtt_service_t *s = ctx;
    if (!s->connected) {
        return TB_ERR_STATE;
    }
    size_t need = sizeof(ob_msg_t) + strlen(topic) + 1u + len;
    /* esp-mqtt refuses a QoS 1/2 message that would take its outbox of unacknowledged copies past
     * ESP_OUTBOX_LIMIT: what this pass renders must fit in what was free before it */
    bool esp_full = s->qos > 0 && s->esp_outbox + s->ob_bytes + need > ESP_OUTBOX_LIMIT;
    if ((s->ob_head && s->ob_bytes + need > MQTT_OUTBOX_BYTES) || esp_full ||
        s->st.backlog + s->ob_count >= MQTT_BACKLOG_MAX) {
        s->st.deferred++;
        s->step_busy = true;
        return TB_ERR_BUSY;
    }
    ob_msg_t *m = msg_new(OB_PUB, topic, payload, len, retain);
    if (!m) {
        s->st.deferred++;
        s->step_busy = true;
        return TB_ERR_BUSY;
    }
    ob_append(s, m, need);
    return TB_OK;
}

static int port_sub(mqtt_service_t *s, uint8_t op, const char *pattern)
{
    if (!s->connected) {
        return TB_ERR_STATE;
    }
    ob_msg_t *m = msg_new(op, pattern, NULL, 0, false);
    if (!m) {
        return TB_ERR_NOSPACE;
    }
    ob_append(s, m, 0);
    return TB_OK;
}

static int port_subscribe(void *ctx, const char *pattern) { return port_sub(ctx, OB_SUB, pattern); }
static int port_unsubscribe(void *ctx, const char *pattern) { return port_sub(ctx, OB_UNSUB, pattern); }

/* Hand one message to esp-mqtt (mqtt task, no lock held): it may block while the broker is slow. */
static void send_msg(mqtt_service_t *s, const ob_msg_t *m)
{
    lock(s);
    bool conn = s->connected && s->client;
    int qos = s->qos;
    unlock(s);
    if (!conn) {
        return; /* lost: what is retained goes out again after the next CONNACK */
    }
    const char *topic = m->buf;
    const char *payload = m->buf + strlen(topic) + 1u;
    int id;
    switch (m->op) {
    case OB_PUB:
        /* an empty payload must be NULL: esp-mqtt takes strlen() of a non-NULL one with length 0 */
        id = esp_mqtt_client_publish(s->client, topic, m->len ? payload : NULL, (int)m->len, qos, m->retain);
        lock(s);
        if (id >= 0) {
            s->st.published++;
            if (qos > 0) {
                s->st.backlog++;
            }
        }
        unlock(s);
        if (id < 0 && s->send_failures++ == 0u) {
            LOGW(M, "%s: not published (%s); what is retained goes out again after the next connection", topic,
                 id == -2 ? "esp-mqtt's outbox is full" : "write failed or connection lost");
        }
        break;
    case OB_SUB:
        if (esp_mqtt_client_subscribe_single(s->client, topic, 0) < 0) {
            LOGW(M, "cannot subscribe to %s", topic);
        }
        break;
    default:
        (void)esp_mqtt_client_unsubscribe(s->client, topic);
        break;
    }
}

static void answer_busy(mqtt_service_t *s);

static void drain(mqtt_service_t *s)
{
    answer_busy(s);
    ob_msg_t *m = s->ob_head;
    s->ob_head = s->ob_tail = NULL;
    s->ob_bytes = 0;
    s->ob_count = 0;
    while (m) {
        ob_msg_t *next = m->next;
        send_msg(s, m);
        free(m);
        m = next;
    }
    lock(s);
    m = s->replies;
    s->replies = s->replies_tail = NULL;
    unlock(s);
    while (m) {
        ob_msg_t *next = m->next;
        send_msg(s, m);
        free(m);
        m = next;
    }
}

/* ---- device id (mqtt task) -------------------------------------------------------------------- */

/* mqtt_link_id_port_t */
static int save_id(void *ctx, const char *id, char *err, size_t err_cap)
{
    (void)ctx;
    return nvs_storage_save_with_backup(ID_KEY, NULL, id, strlen(id), err, err_cap);
}

/* "gw-" and the chip's base MAC address: fixed for a device, unlike anything the network gives. */
static void machine_fallback(void *ctx, char *out, size_t cap)
{
    (void)ctx;
    uint8_t mac[6];
    if (esp_efuse_mac_get_default(mac) == ESP_OK) {
        snprintf(out, cap, "gw-%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    } else {
        snprintf(out, cap, "gateway");
    }
}

static void load_id(mqtt_service_t *s)
{
    static const mqtt_link_id_port_t port = {save_id, machine_fallback, NULL, "NVS"};
    mqtt_link_id_init(&s->id, &port);
    char buf[MQTT_DEVICE_ID_MAX], err[96];
    size_t n = 0;
    if (nvs_storage_load_text(ID_KEY, buf, sizeof buf - 1u, &n, err, sizeof err) == TB_OK) {
        mqtt_link_id_loaded(&s->id, buf, n);
    }
}

/* ---- esp-mqtt's event handler (esp-mqtt's task, its API lock held: no esp-mqtt call here) ------ */

static void push_reply(mqtt_service_t *s, ob_msg_t *m)
{
    lock(s);
    if (s->replies_tail) {
        s->replies_tail->next = m;
    } else {
        s->replies = m;
    }
    s->replies_tail = m;
    unlock(s);
    xTaskNotifyGive(s->task);
}

/* The answer v decided, on <base>/cmd/result (not retained), queued for the mqtt task. */
static void reply(mqtt_service_t *s, const mqtt_link_cmd_t *v)
{
    size_t cap = v->result && v->result[0] ? MQTT_CMD_RESULT_MAX : 1024u;
    char *buf = malloc(cap);
    if (!buf) {
        LOGW(M, "command result not published (out of memory)");
        return;
    }
    const char *id = v->req.id_json;
    int n = mqtt_cmd_result_json(buf, cap, id, v->command, v->rc, v->status, v->message, v->result);
    if (n < 0) {
        n = mqtt_cmd_result_json(buf, cap, id, v->command, v->rc, v->status, v->message, NULL);
    }
    char t[MQTT_TOPIC_MAX + 16];
    lock(s);
    snprintf(t, sizeof t, "%s/cmd/result", s->base);
    unlock(s);
    ob_msg_t *m = n > 0 ? msg_new(OB_PUB, t, buf, (size_t)n, false) : NULL;
    free(buf);
    if (!m) {
        LOGW(M, "command result not published (%s)", n > 0 ? "out of memory" : "too large");
        return;
    }
    push_reply(s, m);
}

static void cmd_task(void *arg);

static void enqueue_command(mqtt_service_t *s, cmd_item_t *it)
{
    lock(s);
    if (s->q_count < MQTT_CMD_QUEUE) {
        s->queue[(s->q_head + s->q_count) % MQTT_CMD_QUEUE] = it;
        s->q_count++;
        if (s->cmd_task) {
            xTaskNotifyGive(s->cmd_task); /* under mu: the task cannot end meanwhile */
            unlock(s);
            return;
        }
        if (xTaskCreate(cmd_task, "mqtt_cmd", CMD_STACK, s, TASK_PRIO, &s->cmd_task) == pdPASS) {
            unlock(s);
            return;
        }
        s->cmd_task = NULL;
        s->q_count--;
        LOGE(M, "cannot start the MQTT command task (out of memory): command refused");
    }
    /* answered "busy" by the mqtt task (parsing it here would need a larger stack for esp-mqtt's
     * task); beyond MQTT_CMD_QUEUE of those, dropped without an answer */
    s->st.cmd_busy++;
    bool keep = s->busy_count < MQTT_CMD_QUEUE;
    if (keep) {
        s->busy[s->busy_count++] = it;
    }
    unlock(s);
    if (keep) {
        xTaskNotifyGive(s->task);
    } else {
        free(it);
    }
}

/* mqtt task: the "busy" answers */
static void answer_busy(mqtt_service_t *s)
{
    for (;;) {
        lock(s);
        cmd_item_t *it = s->busy_count ? s->busy[--s->busy_count] : NULL;
        unlock(s);
        if (!it) {
            return;
        }
        mqtt_link_cmd_t v;
        mqtt_link_cmd_busy(&v, it->sub, it->sub_len, it->payload, it->len);
        reply(s, &v);
        free(it);
    }
}

static void on_data(mqtt_service_t *s, const esp_mqtt_event_t *e)
{
    if (e->current_data_offset == 0 && e->topic) { /* the first (or only) part of a message */
        free(s->rx);
        s->rx = NULL;
        size_t tl = (size_t)e->topic_len, total = e->total_data_len > 0 ? (size_t)e->total_data_len : 0u;
        lock(s);
        const char *sub = NULL;
        size_t sl = 0;
        mqtt_link_topic_t kind = mqtt_link_topic(s->base, e->topic, tl, &sub, &sl);
        if (kind == MQTT_LINK_TOPIC_OTHER) {
            if (e->retain && s->pub) {
                mqtt_pub_retained(s->pub, e->topic, tl, total);
            }
            unlock(s);
            return;
        }
        if (kind == MQTT_LINK_TOPIC_RESULT) {
            unlock(s);
            return; /* our own answers */
        }
        s->st.cmd_received++;
        unlock(s);
        cmd_item_t *it = calloc(1, sizeof *it);
        if (!it) {
            lock(s);
            s->st.cmd_busy++;
            unlock(s);
            LOGW(M, "command refused: out of memory");
            return;
        }
        it->sub_len = sl < sizeof it->sub ? sl : sizeof it->sub; /* a longer suffix is no command */
        memcpy(it->sub, sub, it->sub_len);
        it->too_large = total > sizeof it->payload;
        it->retained = e->retain;
        s->rx = it;
        s->rx_total = total;
    }
    cmd_item_t *it = s->rx;
    if (!it) {
        return; /* a later part of a message that is not a command */
    }
    size_t off = e->current_data_offset > 0 ? (size_t)e->current_data_offset : 0u;
    size_t n = e->data_len > 0 ? (size_t)e->data_len : 0u;
    if (!it->too_large && n && off + n <= sizeof it->payload) {
        memcpy(it->payload + off, e->data, n);
    }
    if (off + n >= s->rx_total) {
        it->len = it->too_large ? 0u : s->rx_total;
        s->rx = NULL;
        enqueue_command(s, it);
    }
}

static const char *connack_text(int code)
{
    switch (code) {
    case MQTT_CONNECTION_REFUSE_PROTOCOL: return "refused by the broker: unacceptable protocol version";
    case MQTT_CONNECTION_REFUSE_ID_REJECTED: return "refused by the broker: client id rejected";
    case MQTT_CONNECTION_REFUSE_SERVER_UNAVAILABLE: return "refused by the broker: server unavailable";
    case MQTT_CONNECTION_REFUSE_BAD_USERNAME: return "refused by the broker: bad user name or password";
    case MQTT_CONNECTION_REFUSE_NOT_AUTHORIZED: return "refused by the broker: not authorised";
    default: return "refused by the broker";
    }
}

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    mqtt_service_t *s = arg;
    esp_mqtt_event_handle_t e = data;
    switch ((esp_mqtt_event_id_t)id) {
    case MQTT_EVENT_CONNECTED:
        lock(s);
        s->connected = true;
        s->st.connected = true;
        s->st.backlog = 0;
        s->st.connects++;
        s->ev_connected = true;
        unlock(s);
        xTaskNotifyGive(s->task);
        break;
    case MQTT_EVENT_DISCONNECTED:
        free(s->rx);
        s->rx = NULL;
        lock(s);
        if (s->connected) {
            s->connected = false;
            s->st.connected = false;
            s->st.disconnects++;
            s->ev_lost = true;
        } else {
            s->ev_failed = true;
        }
        unlock(s);
        xTaskNotifyGive(s->task);
        break;
    case MQTT_EVENT_ERROR: {
        const esp_mqtt_error_codes_t *ec = e->error_handle;
        char why[sizeof s->ev_err] = "";
        if (ec && ec->error_type == MQTT_ERROR_TYPE_CONNECTION_REFUSED) {
            snprintf(why, sizeof why, "%s", connack_text((int)ec->connect_return_code));
        } else if (ec && ec->error_type == MQTT_ERROR_TYPE_TCP_TRANSPORT) {
            if (ec->esp_transport_sock_errno) {
                snprintf(why, sizeof why, "%s", strerror(ec->esp_transport_sock_errno));
            } else if (ec->esp_tls_last_esp_err) {
                snprintf(why, sizeof why, "%s", esp_err_to_name(ec->esp_tls_last_esp_err));
            }
        }
        if (why[0]) {
            lock(s);
            snprintf(s->ev_err, sizeof s->ev_err, "%s", why);
            unlock(s);
        }
        break;
    }
    case MQTT_EVENT_PUBLISHED:
        lock(s);
        if (s->st.backlog) {
            s->st.backlog--;
        }
        unlock(s);
        break;
    case MQTT_EVENT_DATA:
        on_data(s, e);
        break;
    default:
        break;
    }
}

/* ---- commands (command task) ------------------------------------------------------------------ */

static void run_command(mqtt_service_t *s, const cmd_item_t *it, bool enabled)
{
    mqtt_link_cmd_t v;
    mqtt_link_cmd_admit(&v, it->sub, it->sub_len, it->payload, it->len, it->too_large, it->retained, enabled);
    gw_cmd_t *c = NULL;
    if (v.run) {
        c = malloc(sizeof *c); /* 12.7 kB, only while a command runs */
        if (c) {
            mqtt_cmd_to_gw(&v.req, c);
            mqtt_link_cmd_done(&v, cmdq_call(s->svc.cmdq, c, MQTT_CMD_TIMEOUT_MS), c);
        } else {
            mqtt_link_cmd_answer(&v, MQTT_LINK_COUNT_BUSY, TB_ERR_BUSY, 503, "the gateway is out of memory; try again");
        }
    }
    lock(s);
    mqtt_link_stats_count(&s->st, v.count);
    unlock(s);
    reply(s, &v);
    free(c);
}

static void cmd_task(void *arg)
{
    mqtt_service_t *s = arg;
    for (;;) {
        lock(s);
        if (s->q_count == 0u) {
            unlock(s);
            if (ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(MQTT_CMD_IDLE_MS)) == 0) {
                lock(s);
                if (s->q_count == 0u) { /* idle: end (the next command starts it again) */
                    s->cmd_task = NULL;
                    unlock(s);
                    vTaskDelete(NULL);
                }
                unlock(s);
            }
            continue;
        }
        cmd_item_t *it = s->queue[s->q_head];
        s->q_head = (s->q_head + 1u) % MQTT_CMD_QUEUE;
        s->q_count--;
        bool enabled = s->commands_enabled;
        unlock(s);
        run_command(s, it, enabled);
        free(it);
    }
}

/* ---- connection (mqtt task) ------------------------------------------------------------------- */

static void schedule_retry(mqtt_service_t *s, uint32_t now, const char *why)
{
    if (mqtt_link_retry(&s->retry, &s->run_cfg, now, why, esp_random())) {
        lock(s);
        s->st.connect_failures++;
        unlock(s);
    }
    s->waiting_retry = true;
}


/* The address Home Assistant shows as the device's web UI: the interface's IPv4 address. */
static void own_address(char *out, size_t cap)
{
    out[0] = '\0';
    esp_netif_t *n = esp_netif_get_default_netif();
    esp_netif_ip_info_t ip;
    if (n && esp_netif_get_ip_info(n, &ip) == ESP_OK && ip.ip.addr) {
        snprintf(out, cap, IPSTR, IP2STR(&ip.ip));
    }
}

/* Create and start the client for s->run_cfg. false (logged) if it cannot. */
static bool client_create(mqtt_service_t *s, uint32_t now)
{
    const mqtt_cfg_t *c = &s->run_cfg;
    char base[MQTT_TOPIC_MAX];
    if (!mqtt_link_names(c, s->device_id, base, sizeof base, s->client_id, sizeof s->client_id)) {
        return false;
    }
    if (c->tls) {
        LOGE(M, "mqtt.tls: this firmware has no TLS for MQTT yet; MQTT stays off until the configuration changes "
                "(set mqtt.tls to false, on a trusted network)");
        return false;
    }
    char will[MQTT_TOPIC_MAX + 16];
    snprintf(will, sizeof will, "%s/availability", base);
    if (!s->pub) {
        mqtt_pub_t *p = calloc(1, sizeof *p);
        if (!p) {
            LOGE(M, "cannot start MQTT: out of memory (%u bytes)", (unsigned)sizeof *p);
            return false;
        }
        lock(s);
        s->pub = p;
        unlock(s);
    }
    esp_mqtt_client_config_t mc;
    memset(&mc, 0, sizeof mc);
    mc.broker.address.hostname = c->host;
    mc.broker.address.transport = MQTT_TRANSPORT_OVER_TCP;
    mc.broker.address.port = (uint32_t)c->port;
    mc.credentials.client_id = s->client_id;
    mc.credentials.username = c->username[0] ? c->username : NULL;
    mc.credentials.authentication.password = c->password[0] ? c->password : NULL;
    mc.session.last_will.topic = will;
    mc.session.last_will.msg = "offline";
    mc.session.last_will.msg_len = 7;
    mc.session.last_will.qos = (int)c->qos;
    mc.session.last_will.retain = 1;
    mc.session.keepalive = (int)c->keepalive_s;
    mc.session.protocol_ver = MQTT_PROTOCOL_V_3_1_1;
    mc.network.disable_auto_reconnect = true; /* our back-off decides (esp_mqtt_client_reconnect) */
    mc.network.reconnect_timeout_ms = 500;    /* how often the waiting task looks for that call */
    mc.network.timeout_ms = NET_TIMEOUT_MS;
    mc.task.priority = ESP_MQTT_PRIO;
    mc.task.stack_size = ESP_MQTT_STACK;
    size_t connect_len = 32u + strlen(s->client_id) + strlen(will) + 7u + strlen(c->username) + strlen(c->password);
    mc.buffer.size = IN_BUF;
    mc.buffer.out_size = connect_len > OUT_BUF ? (int)connect_len : OUT_BUF;
    mc.outbox.limit = ESP_OUTBOX_LIMIT;
    esp_mqtt_client_handle_t cl = esp_mqtt_client_init(&mc);
    if (!cl) {
        LOGE(M, "cannot create the MQTT client (out of memory?)");
        return false;
    }
    if (esp_mqtt_client_register_event(cl, MQTT_EVENT_ANY, on_event, s) != ESP_OK) {
        LOGE(M, "cannot create the MQTT client (out of memory?)");
        esp_mqtt_client_destroy(cl);
        return false;
    }
    mqtt_pub_ident_t ident;
    memset(&ident, 0, sizeof ident);
    snprintf(ident.device_id, sizeof ident.device_id, "%s", s->device_id);
    snprintf(ident.gw_version, sizeof ident.gw_version, "%s", ota_version());
    own_address(ident.hostname, sizeof ident.hostname);
    mqtt_pub_port_t port = {port_publish, port_subscribe, port_unsubscribe, s};
    lock(s);
    mqtt_pub_init(s->pub, &port, &ident, base, c);
    mqtt_pub_carry_give(s->pub, &s->carry, s->event_seq, s->recent_count); /* no event sent twice */
    s->connected = false;
    s->ev_connected = s->ev_lost = s->ev_failed = false;
    s->ev_err[0] = '\0';
    s->qos = (int)c->qos;
    s->st.backlog = 0;
    snprintf(s->base, sizeof s->base, "%s", base);
    unlock(s);
    s->waiting_retry = false;
    mqtt_link_backoff_reset(&s->retry);
    s->v311_warned = false;
    if (esp_mqtt_client_start(cl) != ESP_OK) {
        LOGE(M, "cannot start the MQTT client task (out of memory?)");
        esp_mqtt_client_destroy(cl);
        return false;
    }
    s->client = cl;
    (void)now;
    return true;
}

/* Wait up to ms for esp-mqtt to have written and had acknowledged what was handed to it. */
static void settle(mqtt_service_t *s, uint32_t ms)
{
    uint32_t t0 = esp_now_ms();
    for (;;) {
        lock(s);
        bool pending = s->connected && s->st.backlog > 0u;
        unlock(s);
        if (!pending || (uint32_t)(esp_now_ms() - t0) >= ms) {
            return;
        }
        vTaskDelay(pdMS_TO_TICKS(20));
    }
}

/* Orderly end of the client. clear_old: the device id or base topic changes, so the discovery
 * documents and retained topics under the old names are removed first. */
static void client_destroy(mqtt_service_t *s, bool clear_old)
{
    if (!s->client) {
        return;
    }
    lock(s);
    bool conn = s->connected;
    unlock(s);
    if (conn) {
        if (clear_old) {
            uint32_t t0 = esp_now_ms();
            for (;;) {
                lock(s);
                bool done = mqtt_pub_remove_all(s->pub);
                unlock(s);
                drain(s);
                if (done || (uint32_t)(esp_now_ms() - t0) >= FLUSH_MS) {
                    break;
                }
                settle(s, 200u);
            }
            char t[MQTT_TOPIC_MAX + 16];
            lock(s);
            for (size_t i = 0; mqtt_pub_retained_topic(s->pub, i, t, sizeof t) > 0; i++) {
                (void)port_publish(s, t, "", 0, true);
            }
            unlock(s);
        } else {
            lock(s);
            (void)mqtt_pub_offline(s->pub);
            unlock(s);
        }
        drain(s);
        settle(s, FLUSH_MS);
    }
    /* sends DISCONNECT when connected (no last will then) and waits for esp-mqtt's task to end */
    (void)esp_mqtt_client_stop(s->client);
    (void)esp_mqtt_client_destroy(s->client);
    s->client = NULL;
    lock(s);
    s->connected = false;
    s->st.connected = false;
    s->st.backlog = 0;
    s->ev_connected = s->ev_lost = s->ev_failed = false;
    mqtt_pub_carry_take(s->pub, &s->carry);
    mqtt_pub_disconnected(s->pub);
    unlock(s);
    drain(s); /* discards anything left: not connected */
    s->waiting_retry = false;
}

/* What esp-mqtt's handler reported since the last pass. */
static void handle_events(mqtt_service_t *s, uint32_t now)
{
    char why[sizeof s->ev_err];
    lock(s);
    bool up = s->ev_connected, lost = s->ev_lost, failed = s->ev_failed;
    s->ev_connected = s->ev_lost = s->ev_failed = false;
    snprintf(why, sizeof why, "%s", s->ev_err);
    s->ev_err[0] = '\0';
    bool commands = s->commands_enabled;
    unlock(s);
    if (!s->client) {
        return;
    }
    if (failed) {
        schedule_retry(s, now, why[0] ? why : "no connection (no answer, or no CONNACK in time)");
    }
    if (up) {
        mqtt_link_backoff_reset(&s->retry);
        s->waiting_retry = false;
        LOGI(M, "connected to %s:%d as %s (MQTT 3.1.1); base topic %s", s->run_cfg.host, (int)s->run_cfg.port,
             s->client_id, s->pub->base);
        if (commands && !s->v311_warned) {
            s->v311_warned = true;
            LOGW(M, "MQTT 3.1.1: a command published with the retain flag while the gateway is connected arrives "
                    "without the flag and cannot be refused (one delivered as retained at subscription is)");
        }
        char t[MQTT_TOPIC_MAX + 8];
        snprintf(t, sizeof t, "%s/cmd/#", s->pub->base);
        /* QoS 2: a command is executed once even if the connection drops while it is delivered */
        if (esp_mqtt_client_subscribe_single(s->client, t, 2) < 0) {
            LOGW(M, "cannot subscribe to %s", t);
        }
        s->send_failures = 0;
        lock(s);
        mqtt_pub_connected(s->pub, now);
        unlock(s);
        mqtt_link_report_connected(&s->report, now);
    }
    if (lost) {
        lock(s);
        mqtt_pub_disconnected(s->pub);
        unlock(s);
        mqtt_link_lost(&s->retry, &s->run_cfg, why);
        schedule_retry(s, now, NULL);
    }
}

static void publish_stats(mqtt_service_t *s, uint32_t now)
{
    mqtt_service_stats_t st;
    lock(s);
    st = s->st;
    bool commands = s->commands_enabled;
    uint64_t lost = s->pub->stats.events_lost;
    unlock(s);
    if (!st.connected) {
        return;
    }
    if (!mqtt_link_report_due(&s->report, &st, commands, now)) {
        return;
    }
    char buf[MQTT_LINK_STATS_JSON_MAX];
    int n = mqtt_link_report_json(&st, lost, commands, buf, sizeof buf);
    char t[MQTT_TOPIC_MAX + 8];
    if (n <= 0 || mqtt_pub_topic(s->pub, "mqtt", t, sizeof t) <= 0) {
        return;
    }
    lock(s);
    int rc = port_publish(s, t, buf, (size_t)n, true);
    unlock(s);
    if (rc == TB_OK) {
        mqtt_link_report_sent(&s->report, &st, commands, now);
    }
}

static int take_config(const gw_view_t *v, void *ctx);

/* Follow the configuration: start, stop or replace the client; retry after a failure. */
static void follow_config(mqtt_service_t *s, uint32_t now)
{
    lock(s);
    s->commands_enabled = s->v_commands;
    s->st.enabled = s->v_enabled;
    unlock(s);
    if (s->v_enabled != s->was_enabled) {
        LOGI(M, "MQTT %s", s->v_enabled ? "enabled" : "disabled");
        s->was_enabled = s->v_enabled;
    }
    if (s->client && s->conn_diff) {
        if (s->v_enabled) {
            LOGI(M, "connection settings changed: reconnecting");
        }
        client_destroy(s, s->v_enabled && s->base_diff);
        if (s->id_diff) {
            s->device_id[0] = '\0';
        }
        s->create_failed = false;
    }
    if (!s->client && !s->v_enabled && s->pub) {
        lock(s);
        free(s->pub);
        s->pub = NULL;
        unlock(s);
    }
    if (!s->client && s->v_enabled) {
        if (s->create_failed && !s->conn_diff) {
            return; /* logged once; wait for a new configuration */
        }
        if (s->conn_diff) {
            if (s->id_diff) {
                s->device_id[0] = '\0';
            }
            (void)view_store_read(s->svc.views, take_config, s);
        }
        if (!mqtt_link_id_resolve(&s->id, s->run_devid, s->ver_valid ? s->serial : NULL, now - s->first_view_ms,
                                  s->device_id, sizeof s->device_id)) {
            return;
        }
        s->create_failed = !client_create(s, now);
        return;
    }
    if (s->client && s->waiting_retry && (int32_t)(now - s->retry.retry_at) >= 0) {
        s->waiting_retry = false;
        if (esp_mqtt_client_reconnect(s->client) != ESP_OK) {
            /* esp-mqtt is not waiting yet (still closing the last attempt): look again soon */
            s->waiting_retry = true;
            s->retry.retry_at = now + 200u;
        }
    }
}

/* Under the view store's lock: the configuration a new client is made for. */
static int take_config(const gw_view_t *v, void *ctx)
{
    mqtt_service_t *s = ctx;
    s->run_cfg = v->cfg.mqtt;
    snprintf(s->run_devid, sizeof s->run_devid, "%s", v->cfg.gateway.device_id);
    s->conn_diff = s->base_diff = s->id_diff = false;
    return 0;
}

/* Runs under the view store's lock: note what the task needs and publish what is due. No network
 * call and no esp-mqtt call here: messages go to the outbox. */
static int read_view(const gw_view_t *v, void *ctx)
{
    mqtt_service_t *s = ctx;
    const mqtt_cfg_t *c = &v->cfg.mqtt;
    s->v_enabled = c->enabled;
    s->v_commands = c->commands;
    s->id_diff = strcmp(s->run_devid, v->cfg.gateway.device_id) != 0;
    s->base_diff = s->id_diff || strcmp(s->run_cfg.base_topic, c->base_topic) != 0;
    s->conn_diff = s->id_diff || !mqtt_cfg_conn_equal(&s->run_cfg, c);
    s->ver_valid = v->snap.version.valid;
    memcpy(s->serial, v->snap.version.serial, sizeof s->serial);
    s->event_seq = v->event_seq;
    s->recent_count = v->recent_count;
    if (s->client && !s->conn_diff) {
        lock(s);
        mqtt_pub_step(s->pub, v, s->now);
        unlock(s);
    }
    return 0;
}

static void mqtt_task(void *arg)
{
    mqtt_service_t *s = arg;
    load_id(s);
    for (;;) {
        uint64_t seq = view_store_wait(s->svc.views, s->view_seq, NULL, s->step_busy ? BUSY_LOOP_MS : LOOP_MS);
        uint32_t now = esp_now_ms();
        if (seq) {
            if (!s->view_seq) {
                s->first_view_ms = now;
            }
            s->view_seq = seq;
        }
        if (!s->view_seq) {
            continue;
        }
        handle_events(s, now);
        s->step_busy = false;
        s->now = now;
        if (s->client) {
            int n = esp_mqtt_client_get_outbox_size(s->client);
            s->esp_outbox = n > 0 ? (size_t)n : 0u;
        }
        (void)view_store_read(s->svc.views, read_view, s);
        drain(s);
        if (s->client) {
            publish_stats(s, now);
            drain(s);
        }
        follow_config(s, esp_now_ms());
    }
}

/* ---- service ---------------------------------------------------------------------------------- */

mqtt_service_t *mqtt_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    (void)cfg; /* the configuration is followed through the published views */
    mqtt_service_t *s = calloc(1, sizeof *s);
    if (!s) {
        LOGE(M, "MQTT not started: out of memory");
        return NULL;
    }
    s->svc = *svc;
    s->mu = xSemaphoreCreateMutexStatic(&s->mu_buf);
    mqtt_link_backoff_reset(&s->retry);
    /* esp-mqtt and its transport log every failed attempt; this service logs each failure once,
     * in its own words (the daemon's) */
    esp_log_level_set("mqtt_client", ESP_LOG_NONE);
    esp_log_level_set("transport_base", ESP_LOG_NONE);
    esp_log_level_set("transport", ESP_LOG_NONE);
    esp_log_level_set("esp-tls", ESP_LOG_NONE);
    if (xTaskCreate(mqtt_task, "mqtt", TASK_STACK, s, TASK_PRIO, &s->task) != pdPASS) {
        LOGE(M, "MQTT not started: cannot create its task (out of memory)");
        free(s);
        return NULL;
    }
    return s;
}

void mqtt_service_stats(mqtt_service_t *s, mqtt_service_stats_t *out)
{
    lock(s);
    *out = s->st;
    unlock(s);
}
