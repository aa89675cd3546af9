#define _GNU_SOURCE /* pthread_setname_np: thread names in top -H and gdb */
#include "ports/linux/mqtt_service.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/log.h"
#include "app/mqtt_cmd.h"
#include "app/mqtt_id.h"
#include "app/mqtt_link.h"
#include "app/mqtt_pub.h"
#include "ports/linux/clock.h"
#include "ports/linux/fileio.h"

#define M "mqtt"
#define LOOP_MS 100            /* network loop / view wait granularity */
#define FLUSH_MS 2000u         /* orderly disconnect: wait this long for the last messages */
#define ID_FILE "mqtt_device_id"

typedef struct {
    char sub[64];
    size_t sub_len;
    uint8_t payload[MQTT_CMD_PAYLOAD_MAX];
    size_t len;
    bool too_large;
    bool retained;
} cmd_item_t;

struct mqtt_service {
    gw_services_t svc;
    pthread_t net_thread, cmd_thread;
    bool net_started, cmd_started;
    atomic_bool stop;

    /* ---- shared, under mu ----
     * Lock order: mu, then libmosquitto's internal locks (mosquitto_publish is called with mu
     * held so that the client cannot be destroyed under the command thread). libmosquitto runs
     * the callbacks only inside mosquitto_loop on the net thread, which never holds mu there;
     * the callbacks take mu briefly. In threaded mode mosquitto_publish only queues (it never
     * writes to the socket nor calls a callback), so it cannot block on a stalled broker. */
    pthread_mutex_t mu;
    pthread_cond_t cmd_cv;
    struct mosquitto *mosq;        /* created/destroyed by the net thread only, under mu */
    bool connected;
    int qos;
    char base[MQTT_TOPIC_MAX];
    bool commands_enabled;
    cmd_item_t queue[MQTT_CMD_QUEUE];
    unsigned q_head, q_count;
    mqtt_service_stats_t st;

    /* ---- net thread only ---- */
    gw_view_t view;
    uint64_t view_seq;
    uint32_t first_view_ms;
    mqtt_cfg_t run_cfg;            /* connection parameters in use (valid while mosq) */
    char run_devid_cfg[sizeof(((gw_main_cfg_t *)0)->device_id)];
    char device_id[MQTT_DEVICE_ID_MAX];
    mqtt_link_id_t id;
    char id_path[512];             /* STATE_DIR/mqtt_device_id */
    char hostname[64];
    char client_id[MQTT_CLIENT_ID_MAX + 16];
    bool sock_active;              /* a connect attempt or connection exists */
    uint32_t attempt_ms;
    mqtt_link_backoff_t retry;
    char refused[160];             /* CONNACK refusal of the current attempt */
    bool reset_needed;
    bool v311;                     /* the broker refused MQTT 5: speak 3.1.1 to it (see on_connect) */
    bool v311_warned;              /* its limitation for commands logged (once per client) */
    mqtt_pub_carry_t carry;        /* what the last client left to the next (event numbering) */
    mqtt_pub_t pub;
    mqtt_link_report_t report;

    char busy_reply[1024];         /* the answer to a command refused for a full queue */

    /* ---- command thread only ---- */
    gw_cmd_t cmd;
    char result[MQTT_CMD_RESULT_MAX];
};

/* ---- helpers ---------------------------------------------------------------------------------- */

static int publish_locked(mqtt_service_t *s, const char *topic, const void *payload, size_t len, bool retain)
{
    if (!s->mosq || !s->connected) {
        return TB_ERR_STATE;
    }
    if (s->st.backlog >= MQTT_BACKLOG_MAX) {
        s->st.deferred++;
        return TB_ERR_BUSY;
    }
    int rc = mosquitto_publish(s->mosq, NULL, topic, (int)len, payload, s->qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        return rc == MOSQ_ERR_NO_CONN ? TB_ERR_STATE : rc == MOSQ_ERR_NOMEM ? TB_ERR_NOSPACE : TB_ERR_IO;
    }
    s->st.backlog++;
    s->st.published++;
    return TB_OK;
}

static int publish(mqtt_service_t *s, const char *topic, const void *payload, size_t len, bool retain)
{
    pthread_mutex_lock(&s->mu);
    int rc = publish_locked(s, topic, payload, len, retain);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* mqtt_pub_port_t (net thread) */
static int port_publish(void *ctx, const char *topic, const void *payload, size_t len, bool retain)
{
    return publish(ctx, topic, payload, len, retain);
}

static int port_subscribe(void *ctx, const char *pattern)
{
    mqtt_service_t *s = ctx;
    return s->mosq && mosquitto_subscribe(s->mosq, NULL, pattern, 0) == MOSQ_ERR_SUCCESS ? TB_OK : TB_ERR_STATE;
}

static int port_unsubscribe(void *ctx, const char *pattern)
{
    mqtt_service_t *s = ctx;
    return s->mosq && mosquitto_unsubscribe(s->mosq, NULL, pattern) == MOSQ_ERR_SUCCESS ? TB_OK : TB_ERR_STATE;
}

static const char *mosq_err(int rc)
{
    switch (rc) {
    case MOSQ_ERR_ERRNO: return strerror(errno);
    case MOSQ_ERR_KEEPALIVE: return "no answer from the broker within the keep-alive time";
    case MOSQ_ERR_EAI: return "host name not found";
    case MOSQ_ERR_TLS: return "TLS error (certificate, host name or protocol)";
    default: return rc >= 128 ? mosquitto_reason_string(rc) : mosquitto_strerror(rc); /* MQTT 5 reason codes */
    }
}

/* ---- device id -------------------------------------------------------------------------------- */

/* mqtt_link_id_port_t */
static int save_id(void *ctx, const char *id, char *err, size_t err_cap)
{
    mqtt_service_t *s = ctx;
    char line[MQTT_DEVICE_ID_MAX + 1];
    int n = snprintf(line, sizeof line, "%s\n", id);
    return file_save_atomic(s->id_path, line, (size_t)n, false, err, err_cap);
}

static void machine_fallback(void *ctx, char *out, size_t cap)
{
    (void)ctx;
    char buf[64] = "", err[128];
    size_t n = 0;
    if (file_load("/etc/machine-id", buf, sizeof buf - 1u, &n, err, sizeof err) == TB_OK && n >= 12u) {
        buf[12] = '\0';
        snprintf(out, cap, "gw-%s", buf);
        return;
    }
    char host[64] = "";
    if (gethostname(host, sizeof host - 1u) == 0 && host[0]) {
        char slug[MQTT_DEVICE_ID_MAX - 8u];
        if (mqtt_slug(host, slug, sizeof slug) > 0) {
            snprintf(out, cap, "gw-%s", slug);
            return;
        }
    }
    snprintf(out, cap, "gateway");
}

static void load_id(mqtt_service_t *s)
{
    char buf[MQTT_DEVICE_ID_MAX], err[256];
    size_t n = 0;
    if (file_load(s->id_path, buf, sizeof buf - 1u, &n, err, sizeof err) == TB_OK) {
        mqtt_link_id_loaded(&s->id, buf, n);
    }
}

/* ---- libmosquitto callbacks (net thread, inside mosquitto_loop) -------------------------------- */

static void on_connect(struct mosquitto *mosq, void *ctx, int rc)
{
    mqtt_service_t *s = ctx;
    uint32_t now = linux_now_ms();
    if (rc != 0) {
        if (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION && !s->v311) {
            /* libmosquitto reports a 3.1.1 broker's "unacceptable protocol version" this way */
            s->v311 = true;
            (void)mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
            snprintf(s->refused, sizeof s->refused, "the broker does not support MQTT 5 (next attempt with MQTT 3.1.1)");
            return;
        }
        snprintf(s->refused, sizeof s->refused, "refused by the broker: %s",
                 s->v311 ? mosquitto_connack_string(rc) : mosquitto_reason_string(rc));
        return; /* the loop returns an error next; the failure is counted there */
    }
    pthread_mutex_lock(&s->mu);
    s->connected = true;
    s->st.connected = true;
    s->st.backlog = 0; /* anything queued before is either resent by libmosquitto or gone */
    s->st.connects++;
    pthread_mutex_unlock(&s->mu);
    mqtt_link_backoff_reset(&s->retry);
    LOGI(M, "connected to %s:%d%s as %s (MQTT %s); base topic %s", s->run_cfg.host, (int)s->run_cfg.port,
         s->run_cfg.tls ? " (TLS)" : "", s->client_id, s->v311 ? "3.1.1" : "5", s->pub.base);
    if (s->v311 && s->pub.cfg.commands && !s->v311_warned) {
        s->v311_warned = true;
        LOGW(M, "MQTT 3.1.1 broker: a command published with the retain flag while the gateway is connected "
                "arrives without the flag and cannot be refused (MQTT 5 keeps it: retain-as-published)");
    }
    char t[MQTT_TOPIC_MAX + 8];
    snprintf(t, sizeof t, "%s/cmd/#", s->pub.base);
    /* QoS 2: a command is executed once even if the connection drops while it is delivered.
     * Retain-as-published (MQTT 5): a broker forwards a live publication with its retain flag
     * (3.1.1 clears it), so a retained command is refused however it arrives, not only when it
     * is delivered at subscription time. */
    int src = s->v311 ? mosquitto_subscribe(mosq, NULL, t, 2)
                      : mosquitto_subscribe_v5(mosq, NULL, t, 2, MQTT_SUB_OPT_RETAIN_AS_PUBLISHED, NULL);
    if (src != MOSQ_ERR_SUCCESS) {
        LOGW(M, "cannot subscribe to %s", t);
    }
    mqtt_pub_connected(&s->pub, now);
    mqtt_link_report_connected(&s->report, now);
}

static void on_disconnect(struct mosquitto *mosq, void *ctx, int rc)
{
    (void)mosq;
    mqtt_service_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    bool was = s->connected;
    s->connected = false;
    s->st.connected = false;
    if (was) {
        s->st.disconnects++;
    }
    pthread_mutex_unlock(&s->mu);
    if (was) {
        mqtt_pub_disconnected(&s->pub);
        mqtt_link_lost(&s->retry, &s->run_cfg, rc != 0 && !atomic_load(&s->stop) ? mosq_err(rc) : NULL);
    }
}

static void on_publish(struct mosquitto *mosq, void *ctx, int mid)
{
    (void)mosq;
    (void)mid;
    mqtt_service_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (s->st.backlog) {
        s->st.backlog--;
    }
    pthread_mutex_unlock(&s->mu);
}

static void reply(mqtt_service_t *s, char *buf, size_t cap, const mqtt_link_cmd_t *v);

static void on_message(struct mosquitto *mosq, void *ctx, const struct mosquitto_message *m)
{
    (void)mosq;
    mqtt_service_t *s = ctx;
    if (!m->topic) {
        return;
    }
    size_t tl = strlen(m->topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0u;
    const char *sub = NULL;
    size_t sl = 0;
    mqtt_link_topic_t kind = mqtt_link_topic(s->pub.base, m->topic, tl, &sub, &sl);
    if (kind == MQTT_LINK_TOPIC_RESULT) {
        return; /* our own answers */
    }
    if (kind == MQTT_LINK_TOPIC_CMD) {
        pthread_mutex_lock(&s->mu);
        s->st.cmd_received++;
        if (s->q_count < MQTT_CMD_QUEUE) {
            cmd_item_t *it = &s->queue[(s->q_head + s->q_count) % MQTT_CMD_QUEUE];
            memset(it, 0, sizeof *it);
            it->sub_len = sl < sizeof it->sub ? sl : sizeof it->sub; /* a longer suffix is no command */
            memcpy(it->sub, sub, it->sub_len);
            it->too_large = plen > sizeof it->payload;
            it->len = it->too_large ? 0u : plen;
            if (it->len) {
                memcpy(it->payload, m->payload, it->len);
            }
            it->retained = m->retain;
            s->q_count++;
            pthread_cond_signal(&s->cmd_cv);
            pthread_mutex_unlock(&s->mu);
            return;
        }
        s->st.cmd_busy++;
        pthread_mutex_unlock(&s->mu);
        mqtt_link_cmd_t v;
        mqtt_link_cmd_busy(&v, sub, sl, m->payload, plen);
        reply(s, s->busy_reply, sizeof s->busy_reply, &v);
        return;
    }
    if (m->retain) {
        mqtt_pub_retained(&s->pub, m->topic, tl, plen);
    }
}

/* ---- commands (command thread) ---------------------------------------------------------------- */

/* The answer v decided, on <base>/cmd/result (not retained). */
static void reply(mqtt_service_t *s, char *buf, size_t cap, const mqtt_link_cmd_t *v)
{
    const char *id = v->req.id_json;
    int n = mqtt_cmd_result_json(buf, cap, id, v->command, v->rc, v->status, v->message, v->result);
    if (n < 0) {
        n = mqtt_cmd_result_json(buf, cap, id, v->command, v->rc, v->status, v->message, NULL);
    }
    if (n < 0) {
        return;
    }
    char t[MQTT_TOPIC_MAX + 16];
    pthread_mutex_lock(&s->mu);
    snprintf(t, sizeof t, "%s/cmd/result", s->base);
    int prc = publish_locked(s, t, buf, (size_t)n, false);
    pthread_mutex_unlock(&s->mu);
    if (prc != TB_OK) {
        LOGW(M, "command result not published (%s)", tb_err_str(prc));
    }
}

static void run_command(mqtt_service_t *s, const cmd_item_t *it, bool enabled)
{
    mqtt_link_cmd_t v;
    mqtt_link_cmd_admit(&v, it->sub, it->sub_len, it->payload, it->len, it->too_large, it->retained, enabled);
    if (v.run) {
        mqtt_cmd_to_gw(&v.req, &s->cmd);
        mqtt_link_cmd_done(&v, cmdq_call(s->svc.cmdq, &s->cmd, MQTT_CMD_TIMEOUT_MS), &s->cmd);
    }
    pthread_mutex_lock(&s->mu);
    mqtt_link_stats_count(&s->st, v.count);
    pthread_mutex_unlock(&s->mu);
    reply(s, s->result, sizeof s->result, &v);
}

static void *cmd_main(void *arg)
{
    mqtt_service_t *s = arg;
    cmd_item_t *it = malloc(sizeof *it);
    if (!it) {
        LOGE(M, "command thread: out of memory");
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->q_count == 0u && !atomic_load(&s->stop)) {
            pthread_cond_wait(&s->cmd_cv, &s->mu);
        }
        if (atomic_load(&s->stop)) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        *it = s->queue[s->q_head];
        s->q_head = (s->q_head + 1u) % MQTT_CMD_QUEUE;
        s->q_count--;
        bool enabled = s->commands_enabled;
        pthread_mutex_unlock(&s->mu);
        run_command(s, it, enabled);
    }
    free(it);
    return NULL;
}

/* ---- connection (net thread) ------------------------------------------------------------------ */

static void schedule_retry(mqtt_service_t *s, uint32_t now, const char *why)
{
    if (mqtt_link_retry(&s->retry, &s->run_cfg, now, why, (uint32_t)rand())) {
        pthread_mutex_lock(&s->mu);
        s->st.connect_failures++;
        pthread_mutex_unlock(&s->mu);
    }
    s->sock_active = false;
}

/* Create the client for the configuration of view v. false (logged) if it cannot be built. */
static bool client_create(mqtt_service_t *s, const gw_view_t *v)
{
    const mqtt_cfg_t *c = &v->cfg.mqtt;
    char base[MQTT_TOPIC_MAX];
    if (!mqtt_link_names(c, s->device_id, base, sizeof base, s->client_id, sizeof s->client_id)) {
        return false;
    }
    struct mosquitto *m = mosquitto_new(s->client_id, true, s);
    if (!m) {
        LOGE(M, "cannot create the MQTT client: %s", strerror(errno));
        return false;
    }
    mosquitto_threaded_set(m, true); /* the command thread publishes too */
    /* MQTT 5 for retain-as-published on the command topics (on_connect); a broker that only
     * speaks 3.1.1 refuses it and the next attempt uses 3.1.1. A new client tries 5 again. */
    s->v311 = false;
    s->v311_warned = false;
    (void)mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_disconnect_callback_set(m, on_disconnect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_message_callback_set(m, on_message);
    char will[MQTT_TOPIC_MAX + 16];
    snprintf(will, sizeof will, "%s/availability", base);
    int rc = mosquitto_will_set(m, will, 7, "offline", (int)c->qos, true);
    if (rc == MOSQ_ERR_SUCCESS && (c->username[0] || c->password[0])) {
        rc = mosquitto_username_pw_set(m, c->username[0] ? c->username : NULL, c->password[0] ? c->password : NULL);
    }
    if (rc == MOSQ_ERR_SUCCESS && c->tls) {
        rc = mosquitto_tls_set(m, c->ca_file[0] ? c->ca_file : NULL, c->ca_file[0] ? NULL : "/etc/ssl/certs", NULL, NULL,
                               NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            LOGE(M, "mqtt.ca_file %s: cannot be used (%s); MQTT stays off until the configuration changes",
                 c->ca_file[0] ? c->ca_file : "(system store)", mosq_err(rc));
        }
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        if (!c->tls) {
            LOGE(M, "cannot configure the MQTT client: %s", mosq_err(rc));
        }
        mosquitto_destroy(m);
        return false;
    }
    s->run_cfg = *c;
    snprintf(s->run_devid_cfg, sizeof s->run_devid_cfg, "%s", v->cfg.gateway.device_id);
    mqtt_pub_ident_t ident;
    memset(&ident, 0, sizeof ident);
    snprintf(ident.device_id, sizeof ident.device_id, "%s", s->device_id);
    snprintf(ident.gw_version, sizeof ident.gw_version, "%s", TB_VERSION);
    snprintf(ident.hostname, sizeof ident.hostname, "%s", s->hostname);
    mqtt_pub_port_t port = {port_publish, port_subscribe, port_unsubscribe, s};
    mqtt_pub_init(&s->pub, &port, &ident, base, c);
    mqtt_pub_carry_give(&s->pub, &s->carry, v->event_seq, v->recent_count); /* no event sent twice */
    pthread_mutex_lock(&s->mu);
    s->mosq = m;
    s->connected = false;
    s->qos = (int)c->qos;
    s->st.backlog = 0;
    snprintf(s->base, sizeof s->base, "%s", base);
    pthread_mutex_unlock(&s->mu);
    s->sock_active = false;
    s->refused[0] = '\0';
    mqtt_link_backoff_reset(&s->retry);
    s->retry.retry_at = linux_now_ms();
    return true;
}

/* Run the network loop until nothing waits to be written or `ms` passed. */
static void flush(mqtt_service_t *s, uint32_t ms)
{
    uint32_t t0 = linux_now_ms();
    while (s->sock_active && (uint32_t)(linux_now_ms() - t0) < ms) {
        pthread_mutex_lock(&s->mu);
        bool pending = s->st.backlog > 0u && s->connected;
        pthread_mutex_unlock(&s->mu);
        if (!pending && !mosquitto_want_write(s->mosq)) {
            break;
        }
        if (mosquitto_loop(s->mosq, 50, 1) != MOSQ_ERR_SUCCESS) {
            break;
        }
    }
}

/* Orderly end of the client. clear_old: the device id or base topic changes, so the discovery
 * documents and retained topics under the old names are removed first. */
static void client_destroy(mqtt_service_t *s, bool clear_old)
{
    if (!s->mosq) {
        return;
    }
    if (s->connected && s->sock_active) {
        if (clear_old) {
            uint32_t t0 = linux_now_ms();
            while (!mqtt_pub_remove_all(&s->pub) && (uint32_t)(linux_now_ms() - t0) < FLUSH_MS) {
                mosquitto_loop(s->mosq, 50, 1);
            }
            char t[MQTT_TOPIC_MAX + 16];
            for (size_t i = 0; mqtt_pub_retained_topic(&s->pub, i, t, sizeof t) > 0; i++) {
                (void)publish(s, t, "", 0, true);
            }
        } else {
            (void)mqtt_pub_offline(&s->pub);
        }
        flush(s, FLUSH_MS);
        mosquitto_disconnect(s->mosq);
        flush(s, 200u);
    }
    pthread_mutex_lock(&s->mu);
    mosquitto_destroy(s->mosq);
    s->mosq = NULL;
    s->connected = false;
    s->st.connected = false;
    s->st.backlog = 0;
    pthread_mutex_unlock(&s->mu);
    mqtt_pub_carry_take(&s->pub, &s->carry);
    mqtt_pub_disconnected(&s->pub);
    s->sock_active = false;
}

static void net_tick(mqtt_service_t *s, uint32_t now)
{
    if (!s->sock_active) {
        if ((int32_t)(now - s->retry.retry_at) < 0) {
            return;
        }
        s->attempt_ms = now;
        int rc = mosquitto_connect_async(s->mosq, s->run_cfg.host, (int)s->run_cfg.port, (int)s->run_cfg.keepalive_s);
        if (rc != MOSQ_ERR_SUCCESS) {
            schedule_retry(s, now, mosq_err(rc));
            return;
        }
        s->sock_active = true;
    }
    int rc = mosquitto_loop(s->mosq, LOOP_MS, 1);
    now = linux_now_ms();
    if (rc != MOSQ_ERR_SUCCESS) {
        if (s->connected) {
            on_disconnect(s->mosq, s, rc); /* normally libmosquitto called it inside the loop */
        }
        char why[200];
        snprintf(why, sizeof why, "%s", s->refused[0] ? s->refused : mosq_err(rc));
        s->refused[0] = '\0';
        schedule_retry(s, now, why);
        return;
    }
    /* a broker that accepts TCP but never answers (stopped process): give up after keep-alive */
    uint32_t limit = (uint32_t)s->run_cfg.keepalive_s * 1500u;
    if (!s->connected && (uint32_t)(now - s->attempt_ms) > limit) {
        schedule_retry(s, now, "no answer to CONNECT (broker stalled?)");
        s->reset_needed = true; /* a fresh client drops the half-open socket and its queue */
    }
}

static void publish_stats(mqtt_service_t *s, uint32_t now)
{
    mqtt_service_stats_t st;
    pthread_mutex_lock(&s->mu);
    st = s->st;
    pthread_mutex_unlock(&s->mu);
    bool commands = s->pub.cfg.commands;
    if (!mqtt_link_report_due(&s->report, &st, commands, now)) {
        return;
    }
    char buf[MQTT_LINK_STATS_JSON_MAX];
    int n = mqtt_link_report_json(&st, s->pub.stats.events_lost, commands, buf, sizeof buf);
    char t[MQTT_TOPIC_MAX + 8];
    if (n > 0 && mqtt_pub_topic(&s->pub, "mqtt", t, sizeof t) > 0 && publish(s, t, buf, (size_t)n, true) == TB_OK) {
        mqtt_link_report_sent(&s->report, &st, commands, now);
    }
}

static bool conn_changed(const mqtt_service_t *s, const gw_view_t *v)
{
    return !mqtt_cfg_conn_equal(&s->run_cfg, &v->cfg.mqtt) || strcmp(s->run_devid_cfg, v->cfg.gateway.device_id) != 0;
}

static void *net_main(void *arg)
{
    mqtt_service_t *s = arg;
    bool was_enabled = false;
    bool create_failed = false;
    mqtt_cfg_t failed_cfg;
    char failed_id[sizeof s->run_devid_cfg] = "";
    memset(&failed_cfg, 0, sizeof failed_cfg);
    while (!atomic_load(&s->stop)) {
        int wait = s->mosq && s->sock_active ? 0 : LOOP_MS;
        uint64_t seq = view_store_wait(s->svc.views, s->view_seq, &s->view, wait);
        if (seq) {
            if (!s->view_seq) {
                s->first_view_ms = linux_now_ms();
            }
            s->view_seq = seq;
        }
        if (!s->view_seq) {
            continue;
        }
        uint32_t now = linux_now_ms();
        const gw_view_t *v = &s->view;
        const mqtt_cfg_t *c = &v->cfg.mqtt;
        pthread_mutex_lock(&s->mu);
        s->commands_enabled = c->commands;
        s->st.enabled = c->enabled;
        pthread_mutex_unlock(&s->mu);
        if (c->enabled != was_enabled) {
            LOGI(M, "MQTT %s", c->enabled ? "enabled" : "disabled");
            was_enabled = c->enabled;
        }
        if (s->mosq && conn_changed(s, v)) {
            char old_dev[MQTT_DEVICE_ID_MAX];
            snprintf(old_dev, sizeof old_dev, "%s", s->device_id);
            bool id_changed = strcmp(s->run_devid_cfg, v->cfg.gateway.device_id) != 0;
            bool base_changed = id_changed || strcmp(s->run_cfg.base_topic, c->base_topic) != 0;
            if (c->enabled) {
                LOGI(M, "connection settings changed: reconnecting");
            }
            client_destroy(s, c->enabled && base_changed);
            if (id_changed) {
                s->device_id[0] = '\0';
            }
        }
        if (!s->mosq && c->enabled) {
            if (create_failed && mqtt_cfg_conn_equal(&failed_cfg, c) &&
                strcmp(failed_id, v->cfg.gateway.device_id) == 0) {
                continue; /* logged once; wait for a new configuration */
            }
            if (!mqtt_link_id_resolve(&s->id, v->cfg.gateway.device_id, v->snap.version.valid ? v->snap.version.serial : NULL,
                                      now - s->first_view_ms, s->device_id, sizeof s->device_id)) {
                continue;
            }
            create_failed = !client_create(s, v);
            if (create_failed) {
                failed_cfg = *c;
                snprintf(failed_id, sizeof failed_id, "%s", v->cfg.gateway.device_id);
                continue;
            }
        }
        if (!s->mosq) {
            continue;
        }
        net_tick(s, now);
        now = linux_now_ms();
        if (s->reset_needed) {
            s->reset_needed = false;
            mqtt_link_backoff_t retry = s->retry;
            client_destroy(s, false);
            if (!client_create(s, v)) {
                continue;
            }
            s->retry = retry;
        }
        mqtt_pub_step(&s->pub, v, now);
        if (s->connected) {
            publish_stats(s, now);
        }
    }
    client_destroy(s, false);
    return NULL;
}

/* ---- service ---------------------------------------------------------------------------------- */

mqtt_service_t *mqtt_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    (void)cfg; /* the configuration is followed through the published views */
    mqtt_service_t *s = calloc(1, sizeof *s);
    if (!s) {
        LOGE(M, "out of memory");
        return NULL;
    }
    s->svc = *svc;
    atomic_init(&s->stop, false);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cmd_cv, NULL);
    if (gethostname(s->hostname, sizeof s->hostname - 1u) != 0) {
        s->hostname[0] = '\0';
    }
    srand((unsigned)linux_now_ms() ^ (unsigned)getpid());
    mosquitto_lib_init();
    snprintf(s->id_path, sizeof s->id_path, "%s/%s", s->svc.state_dir ? s->svc.state_dir : ".", ID_FILE);
    mqtt_link_id_port_t idp = {save_id, machine_fallback, s, s->id_path};
    mqtt_link_id_init(&s->id, &idp);
    load_id(s);
    if (pthread_create(&s->net_thread, NULL, net_main, s) != 0) {
        LOGE(M, "cannot start the MQTT thread: %s", strerror(errno));
        mqtt_service_stop(s);
        return NULL;
    }
    s->net_started = true;
    pthread_setname_np(s->net_thread, "mqtt");
    if (pthread_create(&s->cmd_thread, NULL, cmd_main, s) != 0) {
        LOGE(M, "cannot start the MQTT command thread: %s", strerror(errno));
        mqtt_service_stop(s);
        return NULL;
    }
    s->cmd_started = true;
    pthread_setname_np(s->cmd_thread, "mqtt-cmd");
    return s;
}

void mqtt_service_stop(mqtt_service_t *s)
{
    if (!s) {
        return;
    }
    atomic_store(&s->stop, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cmd_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->net_started) {
        pthread_join(s->net_thread, NULL);
    }
    if (s->cmd_started) {
        pthread_join(s->cmd_thread, NULL);
    }
    mosquitto_lib_cleanup();
    pthread_cond_destroy(&s->cmd_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void mqtt_service_stats(mqtt_service_t *s, mqtt_service_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}
