#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "app/mqtt_link.h"
#include "core/tb_err.h"

/* ---- a log sink that keeps the lines ------------------------------------------------------------ */

static uint32_t g_now;
static int g_lines;
static char g_last[LOG_MSG_MAX];

static uint32_t fake_now(void *ctx)
{
    (void)ctx;
    g_now += LOG_WINDOW_MS + 1u; /* every line in a window of its own: the rate limiter stays out */
    return g_now;
}

static void fake_write(void *ctx, const log_entry_t *e)
{
    (void)ctx;
    g_lines++;
    snprintf(g_last, sizeof g_last, "%s", e->msg);
}

static int setup(void **state)
{
    (void)state;
    log_port_t p = {fake_write, fake_now, NULL, NULL, NULL, NULL};
    log_set_port(&p);
    log_reset();
    log_set_level(LOG_INFO);
    g_lines = 0;
    g_last[0] = '\0';
    return 0;
}

static mqtt_cfg_t broker(void)
{
    mqtt_cfg_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.host, sizeof c.host, "broker.lan");
    c.port = 1883;
    return c;
}

/* ---- back-off ------------------------------------------------------------------------------------ */

/* With the random number that gives no jitter (rnd = j: the middle of 0..2j), the delays are the
 * back-off itself: 1, 2, 4 ... 32 s, then 60 s for ever. */
static void backoff_doubles_and_caps(void **state)
{
    (void)state;
    mqtt_cfg_t c = broker();
    mqtt_link_backoff_t b;
    mqtt_link_backoff_reset(&b);
    static const uint32_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    uint32_t now = 5000;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint32_t j = b.backoff_ms / 5u;
        (void)mqtt_link_retry(&b, &c, now, "Connection refused", j);
        assert_int_equal(b.retry_at - now, want[i]);
        now += 1000u;
    }
    assert_int_equal(b.backoff_ms, MQTT_BACKOFF_MAX_MS);
    /* a CONNACK starts again from the minimum */
    mqtt_link_backoff_reset(&b);
    (void)mqtt_link_retry(&b, &c, now, "Connection refused", 200u);
    assert_int_equal(b.retry_at - now, MQTT_BACKOFF_MIN_MS);
    assert_int_equal(b.backoff_ms, 2u * MQTT_BACKOFF_MIN_MS);
}

/* Every random number, the extremes included, gives a delay within +-20 % of the back-off; 0 and
 * 2j reach the two ends (the jitter is not stuck at one value). */
static void jitter_within_20_percent(void **state)
{
    (void)state;
    mqtt_cfg_t c = broker();
    static const uint32_t rnds[] = {0u, 1u, 199u, 200u, 400u, 401u, 2147483647u, 2147483648u, 4294967294u, 4294967295u};
    static const uint32_t bases[] = {1000u, 2000u, 4000u, 8000u, 16000u, 32000u, 60000u};
    for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++) {
        uint32_t base = bases[k];
        for (size_t i = 0; i < sizeof rnds / sizeof rnds[0]; i++) {
            mqtt_link_backoff_t b;
            mqtt_link_backoff_reset(&b);
            b.backoff_ms = base;
            uint32_t now = 4294967000u; /* the delay wraps the clock */
            (void)mqtt_link_retry(&b, &c, now, NULL, rnds[i]);
            int32_t d = (int32_t)(b.retry_at - now);
            assert_true(d >= (int32_t)(base - base / 5u));
            assert_true(d <= (int32_t)(base + base / 5u));
        }
        mqtt_link_backoff_t b;
        mqtt_link_backoff_reset(&b);
        b.backoff_ms = base;
        (void)mqtt_link_retry(&b, &c, 0u, NULL, 0u);
        assert_int_equal(b.retry_at, base - base / 5u);
        b.backoff_ms = base;
        (void)mqtt_link_retry(&b, &c, 0u, NULL, 2u * (base / 5u));
        assert_int_equal(b.retry_at, base + base / 5u);
    }
}

/* A failed attempt counts in connect_failures; the retry after a lost connection does not (the
 * loss is counted in disconnects), and the one after that counts again. */
static void failures_counted_except_after_lost(void **state)
{
    (void)state;
    mqtt_cfg_t c = broker();
    mqtt_link_backoff_t b;
    mqtt_link_backoff_reset(&b);
    assert_true(mqtt_link_retry(&b, &c, 0, "Connection refused", 0));
    assert_true(mqtt_link_retry(&b, &c, 0, "Connection refused", 0));
    mqtt_link_lost(&b, &c, "Connection reset by peer");
    assert_false(mqtt_link_retry(&b, &c, 0, NULL, 0));
    assert_true(mqtt_link_retry(&b, &c, 0, "Connection refused", 0));
    /* an orderly disconnect (no reason): not logged, not counted either */
    int lines = g_lines;
    mqtt_link_lost(&b, &c, NULL);
    assert_int_equal(g_lines, lines);
    assert_false(mqtt_link_retry(&b, &c, 0, NULL, 0));
    /* a new client forgets a loss it did not retry */
    mqtt_link_lost(&b, &c, NULL);
    mqtt_link_backoff_reset(&b);
    assert_true(mqtt_link_retry(&b, &c, 0, NULL, 0));
}

/* One line per distinct reason; the same reason again is not logged until another came between
 * or a connection succeeded. libmosquitto's final '.' is left out. */
static void repeated_reason_logged_once(void **state)
{
    (void)state;
    mqtt_cfg_t c = broker();
    mqtt_link_backoff_t b;
    mqtt_link_backoff_reset(&b);
    (void)mqtt_link_retry(&b, &c, 0, "Connection refused.", 0);
    assert_int_equal(g_lines, 1);
    assert_string_equal(g_last, "broker.lan:1883: Connection refused; retrying (back-off up to 60 s)");
    (void)mqtt_link_retry(&b, &c, 0, "Connection refused.", 0);
    (void)mqtt_link_retry(&b, &c, 0, NULL, 0);
    (void)mqtt_link_retry(&b, &c, 0, "Connection refused.", 0);
    assert_int_equal(g_lines, 1);
    (void)mqtt_link_retry(&b, &c, 0, "host name not found", 0);
    assert_int_equal(g_lines, 2);
    assert_string_equal(g_last, "broker.lan:1883: host name not found; retrying (back-off up to 60 s)");
    (void)mqtt_link_retry(&b, &c, 0, "Connection refused.", 0);
    assert_int_equal(g_lines, 3);
    mqtt_link_backoff_reset(&b); /* connected */
    (void)mqtt_link_retry(&b, &c, 0, "Connection refused.", 0);
    assert_int_equal(g_lines, 4);

    /* a lost connection logs its own line; the same reason for the retry is not logged again */
    mqtt_link_lost(&b, &c, "Connection reset by peer.");
    assert_int_equal(g_lines, 5);
    assert_string_equal(g_last, "connection to broker.lan:1883 lost (Connection reset by peer); reconnecting");
    (void)mqtt_link_retry(&b, &c, 0, "Connection reset by peer.", 0);
    assert_int_equal(g_lines, 5);
    mqtt_link_lost(&b, &c, "");
    assert_int_equal(g_lines, 6);
    assert_string_equal(g_last, "connection to broker.lan:1883 lost; reconnecting");
}

/* ---- the <base>/mqtt document ------------------------------------------------------------------ */

static void stats_due(void **state)
{
    (void)state;
    mqtt_link_report_t r;
    memset(&r, 0, sizeof r);
    mqtt_link_stats_t st;
    memset(&st, 0, sizeof st);
    st.connected = true;
    st.connects = 1;

    /* at once after a CONNACK, also where the clock wraps */
    mqtt_link_report_connected(&r, 100u);
    assert_true(mqtt_link_report_due(&r, &st, false, 100u));
    uint32_t t0 = 200000u;
    mqtt_link_report_connected(&r, t0);
    assert_true(mqtt_link_report_due(&r, &st, false, t0));
    mqtt_link_report_sent(&r, &st, false, t0);

    /* nothing changed: every MQTT_LINK_STATS_EVERY_MS */
    assert_false(mqtt_link_report_due(&r, &st, false, t0 + 1u));
    assert_false(mqtt_link_report_due(&r, &st, false, t0 + MQTT_LINK_STATS_EVERY_MS - 1u));
    assert_true(mqtt_link_report_due(&r, &st, false, t0 + MQTT_LINK_STATS_EVERY_MS));
    /* counters that are not watched do not hurry it */
    mqtt_link_stats_t o = st;
    o.published += 50;
    o.deferred++;
    o.backlog = 7;
    o.connect_failures++;
    o.disconnects++;
    assert_false(mqtt_link_report_due(&r, &o, false, t0 + 30000u));

    /* a watched counter or the commands flag: due, but not within MQTT_LINK_STATS_MIN_GAP_MS */
    uint64_t *watched[] = {&o.connects,    &o.cmd_received, &o.cmd_ok,  &o.cmd_failed,
                           &o.cmd_refused, &o.cmd_malformed, &o.cmd_busy};
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++) {
        o = st;
        (*watched[i])++;
        assert_false(mqtt_link_report_due(&r, &o, false, t0 + MQTT_LINK_STATS_MIN_GAP_MS - 1u));
        assert_true(mqtt_link_report_due(&r, &o, false, t0 + MQTT_LINK_STATS_MIN_GAP_MS));
    }
    assert_false(mqtt_link_report_due(&r, &st, true, t0 + MQTT_LINK_STATS_MIN_GAP_MS - 1u));
    assert_true(mqtt_link_report_due(&r, &st, true, t0 + MQTT_LINK_STATS_MIN_GAP_MS));

    /* once sent, the new values are the reference */
    o = st;
    o.cmd_ok++;
    mqtt_link_report_sent(&r, &o, true, t0 + 5000u);
    assert_false(mqtt_link_report_due(&r, &o, true, t0 + 7000u));
    assert_true(mqtt_link_report_due(&r, &o, false, t0 + 7000u));
    assert_true(mqtt_link_report_due(&r, &st, true, t0 + 7000u)); /* changed means different, not larger */
}

static void stats_json(void **state)
{
    (void)state;
    mqtt_link_stats_t st = {.enabled = true,
                            .connected = true,
                            .connects = 1,
                            .connect_failures = 2,
                            .disconnects = 3,
                            .published = 4,
                            .deferred = 5,
                            .backlog = 6,
                            .cmd_received = 8,
                            .cmd_ok = 9,
                            .cmd_failed = 10,
                            .cmd_refused = 11,
                            .cmd_malformed = 12,
                            .cmd_busy = 13};
    char buf[MQTT_LINK_STATS_JSON_MAX];
    const char *want = "{\"connects\":1,\"connect_failures\":2,\"disconnects\":3,\"published\":4,\"deferred\":5,"
                       "\"backlog\":6,\"events_lost\":7,\"commands_enabled\":true,\"commands\":{\"received\":8,"
                       "\"ok\":9,\"failed\":10,\"refused\":11,\"malformed\":12,\"busy\":13}}";
    int n = mqtt_link_report_json(&st, 7, true, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
    n = mqtt_link_report_json(&st, 0, false, buf, sizeof buf);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\"events_lost\":0,\"commands_enabled\":false,"));

    /* the largest document fits MQTT_LINK_STATS_JSON_MAX (the header says how large it is) */
    memset(&st, 0xff, sizeof st);
    st.enabled = st.connected = true;
    n = mqtt_link_report_json(&st, UINT64_MAX, false, buf, sizeof buf);
    assert_int_equal(n, 447);
    assert_non_null(strstr(buf, "\"busy\":18446744073709551615}}"));
    /* a buffer one byte short is refused, not cut */
    assert_int_equal(mqtt_link_report_json(&st, UINT64_MAX, false, buf, 447), TB_ERR_NOSPACE);
}

static void stats_count(void **state)
{
    (void)state;
    static const struct {
        mqtt_link_count_t which;
        size_t off;
    } rows[] = {{MQTT_LINK_COUNT_OK, offsetof(mqtt_link_stats_t, cmd_ok)},
                {MQTT_LINK_COUNT_FAILED, offsetof(mqtt_link_stats_t, cmd_failed)},
                {MQTT_LINK_COUNT_REFUSED, offsetof(mqtt_link_stats_t, cmd_refused)},
                {MQTT_LINK_COUNT_MALFORMED, offsetof(mqtt_link_stats_t, cmd_malformed)},
                {MQTT_LINK_COUNT_BUSY, offsetof(mqtt_link_stats_t, cmd_busy)}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mqtt_link_stats_t st, want;
        memset(&st, 0, sizeof st);
        memset(&want, 0, sizeof want);
        mqtt_link_stats_count(&st, rows[i].which);
        *(uint64_t *)((char *)&want + rows[i].off) = 1;
        assert_memory_equal(&st, &want, sizeof st);
    }
    mqtt_link_stats_t st, zero;
    memset(&st, 0, sizeof st);
    memset(&zero, 0, sizeof zero);
    mqtt_link_stats_count(&st, MQTT_LINK_COUNT_NONE);
    assert_memory_equal(&st, &zero, sizeof st);
}

/* ---- device id ---------------------------------------------------------------------------------- */

typedef struct {
    int saves;
    char saved[MQTT_DEVICE_ID_MAX];
    bool fail;
    int fallbacks;
} fake_id_t;

static int fake_save(void *ctx, const char *id, char *err, size_t err_cap)
{
    fake_id_t *f = ctx;
    f->saves++;
    if (f->fail) {
        snprintf(err, err_cap, "disk full");
        return TB_ERR_IO;
    }
    snprintf(f->saved, sizeof f->saved, "%s", id);
    return TB_OK;
}

static void fake_fallback(void *ctx, char *out, size_t cap)
{
    fake_id_t *f = ctx;
    f->fallbacks++;
    snprintf(out, cap, "gw-machine");
}

static void id_setup(mqtt_link_id_t *d, fake_id_t *f)
{
    memset(f, 0, sizeof *f);
    mqtt_link_id_port_t p = {fake_save, fake_fallback, f, "/var/lib/tinybms/mqtt_device_id"};
    mqtt_link_id_init(d, &p);
}

static const uint16_t SERIAL[6] = {0x6e6c, 0xcda8, 0xfd24, 0x5bd0, 0x9027, 0xd345};
static const uint16_t NO_SERIAL[6] = {0, 0, 0, 0, 0, 0};

static void device_id_order(void **state)
{
    (void)state;
    mqtt_link_id_t d;
    fake_id_t f;
    char id[MQTT_DEVICE_ID_MAX];

    /* 1. gateway.device_id wins over everything, as a slug; nothing saved */
    id_setup(&d, &f);
    mqtt_link_id_loaded(&d, "remembered-1\n", 13);
    assert_true(mqtt_link_id_resolve(&d, "Shed battery #2", SERIAL, 0, id, sizeof id));
    assert_string_equal(id, "Shed_battery__2");
    assert_int_equal(f.saves, 0);

    /* 2. the remembered id before the BMS serial number */
    assert_true(mqtt_link_id_resolve(&d, "", SERIAL, 0, id, sizeof id));
    assert_string_equal(id, "remembered-1");
    assert_int_equal(f.saves, 0);
    assert_int_equal(f.fallbacks, 0);

    /* 3. the serial number, remembered through the port (logged with where) */
    id_setup(&d, &f);
    int lines = g_lines;
    assert_true(mqtt_link_id_resolve(&d, "", SERIAL, 0, id, sizeof id));
    assert_string_equal(id, "6e6ccda8fd245bd09027d345");
    assert_int_equal(f.saves, 1);
    assert_string_equal(f.saved, "6e6ccda8fd245bd09027d345");
    assert_int_equal(g_lines, lines + 1);
    assert_string_equal(g_last, "device id 6e6ccda8fd245bd09027d345 (from the BMS serial number; remembered in "
                                "/var/lib/tinybms/mqtt_device_id)");
    /* ... and kept when the BMS is gone: no second save */
    assert_true(mqtt_link_id_resolve(&d, "", NULL, 0, id, sizeof id));
    assert_string_equal(id, "6e6ccda8fd245bd09027d345");
    assert_int_equal(f.saves, 1);

    /* 4. no serial number (none read, or one without information): wait MQTT_ID_WAIT_MS */
    id_setup(&d, &f);
    assert_false(mqtt_link_id_resolve(&d, "", NULL, 0, id, sizeof id));
    assert_false(mqtt_link_id_resolve(&d, "", NO_SERIAL, MQTT_ID_WAIT_MS - 1u, id, sizeof id));
    assert_int_equal(f.fallbacks, 0);
    /* 5. then the port's fallback, logged once, never saved */
    lines = g_lines;
    assert_true(mqtt_link_id_resolve(&d, "", NULL, MQTT_ID_WAIT_MS, id, sizeof id));
    assert_string_equal(id, "gw-machine");
    assert_int_equal(g_lines, lines + 1);
    assert_string_equal(g_last,
                        "no BMS serial number yet: device id gw-machine for now (set gateway.device_id for a fixed one)");
    assert_true(mqtt_link_id_resolve(&d, "", NULL, MQTT_ID_WAIT_MS + 5000u, id, sizeof id));
    assert_int_equal(g_lines, lines + 1);
    assert_int_equal(f.fallbacks, 2);
    assert_int_equal(f.saves, 0);
    /* the serial number arriving later replaces the fallback */
    assert_true(mqtt_link_id_resolve(&d, "", SERIAL, MQTT_ID_WAIT_MS + 9000u, id, sizeof id));
    assert_string_equal(id, "6e6ccda8fd245bd09027d345");
    assert_int_equal(f.saves, 1);
}

static void device_id_save_fails(void **state)
{
    (void)state;
    mqtt_link_id_t d;
    fake_id_t f;
    char id[MQTT_DEVICE_ID_MAX];
    id_setup(&d, &f);
    f.fail = true;
    assert_true(mqtt_link_id_resolve(&d, "", SERIAL, 0, id, sizeof id));
    assert_string_equal(id, "6e6ccda8fd245bd09027d345"); /* used all the same */
    assert_string_equal(g_last, "cannot remember the device id: disk full");
    /* not remembered: without the BMS it waits again, and a later success saves it */
    assert_false(mqtt_link_id_resolve(&d, "", NULL, 0, id, sizeof id));
    f.fail = false;
    assert_true(mqtt_link_id_resolve(&d, "", SERIAL, 0, id, sizeof id));
    assert_int_equal(f.saves, 2);
    assert_true(mqtt_link_id_resolve(&d, "", NULL, 0, id, sizeof id));
}

/* What the port reads back: trailing newlines and spaces dropped, the rest a slug; nothing for an
 * empty text; no more than an id's room. */
static void device_id_loaded(void **state)
{
    (void)state;
    mqtt_link_id_t d;
    fake_id_t f;
    id_setup(&d, &f);
    mqtt_link_id_loaded(&d, "\n \n", 3);
    assert_string_equal(d.remembered, "");
    mqtt_link_id_loaded(&d, "my gw/1 \n\n", 10);
    assert_string_equal(d.remembered, "my_gw_1");
    char big[100];
    memset(big, 'a', sizeof big);
    id_setup(&d, &f);
    mqtt_link_id_loaded(&d, big, sizeof big);
    assert_int_equal(strlen(d.remembered), MQTT_DEVICE_ID_MAX - 1u);
}

/* ---- names and topics ----------------------------------------------------------------------------- */

static void client_names(void **state)
{
    (void)state;
    mqtt_cfg_t c = broker();
    char base[MQTT_TOPIC_MAX], cid[MQTT_CLIENT_ID_MAX + 16];
    snprintf(c.base_topic, sizeof c.base_topic, "tinybms/{device_id}");
    assert_true(mqtt_link_names(&c, "6e6ccda8fd245bd09027d345", base, sizeof base, cid, sizeof cid));
    assert_string_equal(base, "tinybms/6e6ccda8fd245bd09027d345");
    assert_string_equal(cid, "tinybms-gw-6e6ccda8fd245bd09027d345");
    /* the default client id keeps at most 40 characters of the device id */
    assert_true(mqtt_link_names(&c, "abcdefghijabcdefghijabcdefghijabcdefghijXYZ", base, sizeof base, cid, sizeof cid));
    assert_string_equal(cid, "tinybms-gw-abcdefghijabcdefghijabcdefghijabcdefghij");
    snprintf(c.client_id, sizeof c.client_id, "my-client");
    assert_true(mqtt_link_names(&c, "gw1", base, sizeof base, cid, sizeof cid));
    assert_string_equal(cid, "my-client");

    /* a base that is no topic to publish under: refused, logged */
    snprintf(c.base_topic, sizeof c.base_topic, "tinybms/#/{device_id}");
    int lines = g_lines;
    assert_false(mqtt_link_names(&c, "gw1", base, sizeof base, cid, sizeof cid));
    assert_int_equal(g_lines, lines + 1);
    assert_string_equal(g_last, "base topic tinybms/#/{device_id} with device id gw1 is not a valid topic; MQTT stays off");
    /* ... or one that leaves less than 8 bytes of base_cap for the suffixes */
    snprintf(c.base_topic, sizeof c.base_topic, "t/{device_id}");
    assert_true(mqtt_link_names(&c, "gw12345678", base, 20, cid, sizeof cid)); /* 12 bytes: fits */
    assert_false(mqtt_link_names(&c, "gw123456789", base, 20, cid, sizeof cid));
}

static mqtt_link_topic_t classify(const char *base, const char *topic, const char **sub, size_t *sl)
{
    return mqtt_link_topic(base, topic, strlen(topic), sub, sl);
}

static void received_topics(void **state)
{
    (void)state;
    const char *sub = NULL;
    size_t sl = 0;
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw1/cmd/bms/set", &sub, &sl), MQTT_LINK_TOPIC_CMD);
    assert_int_equal(sl, 7);
    assert_memory_equal(sub, "bms/set", 7);
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw1/cmd/result", &sub, &sl), MQTT_LINK_TOPIC_RESULT);
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw1/cmd/results", &sub, &sl), MQTT_LINK_TOPIC_CMD);
    assert_int_equal(sl, 7);
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw1/cmd/", &sub, &sl), MQTT_LINK_TOPIC_OTHER);
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw1/cmdx/bms", &sub, &sl), MQTT_LINK_TOPIC_OTHER);
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw12/cmd/bms/set", &sub, &sl), MQTT_LINK_TOPIC_OTHER);
    assert_int_equal(classify("tinybms/gw1", "tinybms/gw", &sub, &sl), MQTT_LINK_TOPIC_OTHER);
    assert_int_equal(classify("tinybms/gw1", "homeassistant/sensor/tinybms_gw1/soc/config", &sub, &sl),
                     MQTT_LINK_TOPIC_OTHER);
    assert_int_equal(classify("", "/cmd/bms/set", &sub, &sl), MQTT_LINK_TOPIC_OTHER);
    /* the length counts, not a NUL */
    assert_int_equal(mqtt_link_topic("tinybms/gw1", "tinybms/gw1/cmd/bms/resetXXXX", 25, &sub, &sl),
                     MQTT_LINK_TOPIC_CMD);
    assert_int_equal(sl, 9);
    assert_memory_equal(sub, "bms/reset", 9);
}

/* ---- commands ------------------------------------------------------------------------------------ */

static void admit(mqtt_link_cmd_t *v, const char *sub, const char *payload, bool too_large, bool retained,
                  bool enabled)
{
    mqtt_link_cmd_admit(v, sub, strlen(sub), (const uint8_t *)payload, strlen(payload), too_large, retained, enabled);
}

static void command_refusals(void **state)
{
    (void)state;
    mqtt_link_cmd_t v;

    /* commands disabled: 403 before anything else is looked at (retained, unknown topic) */
    admit(&v, "bms/reset", "{\"id\":\"r1\"}", false, true, false);
    assert_false(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_REFUSED);
    assert_int_equal(v.rc, TB_ERR_AUTH);
    assert_int_equal(v.status, 403);
    assert_string_equal(v.message, "MQTT commands are disabled (mqtt.commands = false); nothing was done");
    assert_string_equal(v.command, "bms/reset");
    assert_string_equal(v.req.id_json, "\"r1\"");
    assert_null(v.result);
    assert_string_equal(g_last, "command bms/reset refused: MQTT commands are disabled");
    admit(&v, "bms/explode", "", false, false, false);
    assert_int_equal(v.status, 403);
    assert_null(v.command);
    assert_string_equal(g_last, "command (unknown) refused: MQTT commands are disabled");

    /* retained: 400, refused, before the payload is judged */
    admit(&v, "can/shadow", "maybe", false, true, true);
    assert_false(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_REFUSED);
    assert_int_equal(v.rc, TB_ERR_STATE);
    assert_int_equal(v.status, 400);
    assert_string_equal(v.message,
                        "retained command ignored: it would run again at every reconnect; publish commands without retain");
    assert_string_equal(g_last, "command can/shadow refused: published with the retain flag (it would run again at "
                                "every reconnection)");

    /* malformed: unknown topic 404, too large 413, bad payload 400 with the parser's reason */
    admit(&v, "bms/explode", "", false, false, true);
    assert_false(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_MALFORMED);
    assert_int_equal(v.rc, TB_ERR_NOTFOUND);
    assert_int_equal(v.status, 404);
    assert_null(v.command);
    admit(&v, "bms/set", "", true, false, true);
    assert_int_equal(v.count, MQTT_LINK_COUNT_MALFORMED);
    assert_int_equal(v.rc, TB_ERR_TOO_LARGE);
    assert_int_equal(v.status, 413);
    assert_string_equal(v.message, "payload too large");
    assert_null(v.command);
    assert_string_equal(g_last, "command (unknown topic) refused: payload too large");
    admit(&v, "bms/set", "{\"id\":7,\"name\":\"over_voltage_cutoff\"}", false, false, true);
    assert_false(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_MALFORMED);
    assert_int_equal(v.rc, TB_ERR_FORMAT);
    assert_int_equal(v.status, 400);
    assert_string_equal(v.command, "bms/set");
    assert_string_equal(v.req.id_json, "7");
    assert_non_null(v.message);
    assert_true(strlen(v.message) > 0);
    char want[LOG_MSG_MAX];
    snprintf(want, sizeof want, "command bms/set refused: %s", v.message);
    assert_string_equal(g_last, want);
}

static void command_outcomes(void **state)
{
    (void)state;
    mqtt_link_cmd_t v;
    static gw_cmd_t c;

    admit(&v, "can/shadow", "ON", false, false, true);
    assert_true(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_NONE);
    assert_string_equal(v.command, "can/shadow");
    mqtt_cmd_to_gw(&v.req, &c);

    /* executed: the owner's answer, ok or failed by its rc */
    c.rc = TB_OK;
    c.status = 200;
    snprintf(c.message, sizeof c.message, "CAN listen-only on");
    snprintf(c.result, sizeof c.result, "{\"shadow\":true}");
    mqtt_link_cmd_done(&v, TB_OK, &c);
    assert_false(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_OK);
    assert_int_equal(v.rc, TB_OK);
    assert_int_equal(v.status, 200);
    assert_ptr_equal(v.message, c.message);
    assert_ptr_equal(v.result, c.result);
    assert_string_equal(g_last, "command can/shadow: 200 CAN listen-only on");
    c.rc = TB_ERR_RANGE;
    c.status = 400;
    mqtt_link_cmd_done(&v, TB_OK, &c);
    assert_int_equal(v.count, MQTT_LINK_COUNT_FAILED);
    assert_int_equal(v.rc, TB_ERR_RANGE);
    assert_int_equal(v.status, 400);

    /* the queue: full -> busy 503; no answer in time -> failed 504 */
    mqtt_link_cmd_done(&v, TB_ERR_BUSY, &c);
    assert_int_equal(v.count, MQTT_LINK_COUNT_BUSY);
    assert_int_equal(v.rc, TB_ERR_BUSY);
    assert_int_equal(v.status, 503);
    assert_string_equal(v.message, "the gateway is busy; try again");
    assert_null(v.result);
    mqtt_link_cmd_done(&v, TB_ERR_TIMEOUT, &c);
    assert_int_equal(v.count, MQTT_LINK_COUNT_FAILED);
    assert_int_equal(v.rc, TB_ERR_TIMEOUT);
    assert_int_equal(v.status, 504);
    assert_string_equal(v.message, "no answer from the gateway in time; the command may still be carried out");
    assert_null(v.result);

    /* the port's own queue full: 503 with the id, counted by the port when it refused it */
    mqtt_link_cmd_busy(&v, "bms/reset", 9, (const uint8_t *)"{\"id\":\"b2\"}", 11);
    assert_false(v.run);
    assert_int_equal(v.count, MQTT_LINK_COUNT_NONE);
    assert_int_equal(v.rc, TB_ERR_BUSY);
    assert_int_equal(v.status, 503);
    assert_string_equal(v.message, "too many commands waiting; try again");
    assert_string_equal(v.command, "bms/reset");
    assert_string_equal(v.req.id_json, "\"b2\"");
    mqtt_link_cmd_busy(&v, "nope", 4, (const uint8_t *)"", 0);
    assert_null(v.command);
    assert_int_equal(v.status, 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(backoff_doubles_and_caps, setup),
        cmocka_unit_test_setup(jitter_within_20_percent, setup),
        cmocka_unit_test_setup(failures_counted_except_after_lost, setup),
        cmocka_unit_test_setup(repeated_reason_logged_once, setup),
        cmocka_unit_test_setup(stats_due, setup),
        cmocka_unit_test_setup(stats_json, setup),
        cmocka_unit_test_setup(stats_count, setup),
        cmocka_unit_test_setup(device_id_order, setup),
        cmocka_unit_test_setup(device_id_save_fails, setup),
        cmocka_unit_test_setup(device_id_loaded, setup),
        cmocka_unit_test_setup(client_names, setup),
        cmocka_unit_test_setup(received_topics, setup),
        cmocka_unit_test_setup(command_refusals, setup),
        cmocka_unit_test_setup(command_outcomes, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
