#include "app/mqtt_cfg.h"

#include <string.h>

#include "app/netaddr.h"

#define S mqtt_cfg_t

static const cfg_param_t k_mqtt_params[] = {
    CFG_ROW_BOOL(S, enabled, "mqtt.enabled", 0, 0,
                 "Connect to an MQTT broker and publish availability, state, alarms and events (and Home "
                 "Assistant discovery). Off by default: nothing leaves the gateway unless asked for."),
    CFG_ROW_STR(S, host, "mqtt.host", 0, "localhost", 0, "Broker host name or IP address, without the port (that is mqtt.port): broker.lan, "
                "192.168.1.10 or ::1; required when enabled."),
    CFG_ROW_INT(S, port, "mqtt.port", "", 1, 65535, 1883, 0, "Broker TCP port: usually 1883, or 8883 with TLS."),
    CFG_ROW_BOOL(S, tls, "mqtt.tls", 0, 0,
                 "Use TLS. The broker's certificate and host name are verified against mqtt.ca_file (or the "
                 "system CA store when that is empty)."),
    CFG_ROW_STR(S, ca_file, "mqtt.ca_file", 0, "", 0,
                "PEM file of the CA that signed the broker's certificate; empty = the system CA store "
                "(/etc/ssl/certs)."),
    CFG_ROW_STR(S, username, "mqtt.username", 0, "", 0, "User name for the broker; empty = anonymous."),
    CFG_ROW_STR(S, password, "mqtt.password", 0, "", CFG_F_SECRET, "Password for the broker."),
    CFG_ROW_STR(S, client_id, "mqtt.client_id", 0, "", CFG_F_ADVANCED,
                "MQTT client id; empty = tinybms-gw-<device id>. Two clients with the same id keep "
                "disconnecting each other."),
    CFG_ROW_INT(S, keepalive_s, "mqtt.keepalive_s", "s", 5, 900, 30, CFG_F_ADVANCED,
                "Keep-alive: a silent broker is given up after about 1.5 times this, and the broker "
                "publishes the gateway's last will (offline) after as long if the gateway vanishes."),
    CFG_ROW_INT(S, qos, "mqtt.qos", "", 0, 2, 1, CFG_F_ADVANCED,
                "QoS of every message the gateway publishes, including the last will."),
    CFG_ROW_STR(S, base_topic, "mqtt.base_topic", 1, "tinybms/" MQTT_DEVICE_ID_PLACEHOLDER, 0,
                "Topic prefix of availability, state, alarms, events and commands; {device_id} stands for "
                "gateway.device_id, or the id derived from the BMS serial number when that is empty."),
    CFG_ROW_INT(S, state_interval_s, "mqtt.state_interval_s", "s", 1, 3600, 5, 0,
                "The state document is published at least this often (and at once on a significant "
                "change: charge state, alarms, limits, BMS link, SOC)."),
    CFG_ROW_FLOAT(S, change_cvl_v, "mqtt.change_cvl_v", "V", 0.01, 10, 0.1, CFG_F_ADVANCED,
                  "State is published at once when the charge voltage limit (CVL) moves by at least this."),
    CFG_ROW_FLOAT(S, change_current_a, "mqtt.change_current_a", "A", 0.1, 500, 1, CFG_F_ADVANCED,
                  "State is published at once when the charge or discharge current limit (CCL/DCL) moves "
                  "by at least this."),
    CFG_ROW_FLOAT(S, change_soc_pct, "mqtt.change_soc_pct", "%", 0, 100, 1, CFG_F_ADVANCED,
                  "State is published at once when the state of charge moves by at least this; 0 = SOC "
                  "alone never triggers a publication."),
    CFG_ROW_BOOL(S, discovery, "mqtt.discovery", 1, 0,
                 "Publish Home Assistant MQTT discovery documents (one device with its sensors); turning it "
                 "off removes them from Home Assistant."),
    CFG_ROW_STR(S, discovery_prefix, "mqtt.discovery_prefix", 1, "homeassistant", CFG_F_ADVANCED,
                "Home Assistant discovery prefix (Home Assistant's own default is homeassistant)."),
    CFG_ROW_STR(S, web_url, "mqtt.web_url", 0, "", CFG_F_ADVANCED,
                "Address of this gateway's web UI shown by Home Assistant (configuration URL), e.g. "
                "http://192.168.1.20:8080/; empty = http://<host name>:<gateway.http port>/."),
    CFG_ROW_BOOL(S, commands, "mqtt.commands", 0, 0,
                 "Accept commands on <base>/cmd/... (reset the BMS, clear its events or statistics, write a "
                 "BMS setting, CAN listen-only). Whoever can publish to the broker can then do this: "
                 "enable only on a broker with authentication and access control."),
};

#undef S

const cfg_section_t mqtt_cfg_section = {"mqtt", k_mqtt_params, sizeof k_mqtt_params / sizeof k_mqtt_params[0],
                                        sizeof(mqtt_cfg_t)};

bool mqtt_topic_valid(const char *s, size_t max_len)
{
    size_t n = strlen(s);
    if (n == 0u || n > max_len || s[0] == '/' || s[n - 1u] == '/') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20u || c >= 0x7Fu || c == '+' || c == '#') {
            return false;
        }
        if (c == '/' && s[i + 1u] == '/') {
            return false;
        }
    }
    return true;
}

int mqtt_cfg_check(const mqtt_cfg_t *c, const char **key, const char **why)
{
    if (c->enabled && c->host[0] == '\0') {
        return cfg_refuse(key, why, "mqtt.host", "a broker host is required when MQTT is enabled");
    }
    const char *w = NULL;
    /* checked even while MQTT is off: turning it on must not be what reveals a bad host */
    if (c->host[0] && netaddr_parse(c->host, strlen(c->host), NETADDR_HOST_ONLY, NULL, &w) != TB_OK) {
        return cfg_refuse(key, why, "mqtt.host", w);
    }
    if (!mqtt_topic_valid(c->base_topic, sizeof c->base_topic - 1u)) {
        return cfg_refuse(key, why, "mqtt.base_topic",
                   "not a valid topic: printable ASCII, no spaces, no + or #, no empty level, no leading or "
                   "trailing /");
    }
    const char *ph = strstr(c->base_topic, MQTT_DEVICE_ID_PLACEHOLDER);
    if (ph && strstr(ph + 1, MQTT_DEVICE_ID_PLACEHOLDER)) {
        return cfg_refuse(key, why, "mqtt.base_topic", "{device_id} may appear only once");
    }
    if (c->base_topic[0] == '$') {
        return cfg_refuse(key, why, "mqtt.base_topic", "topics starting with $ are reserved for the broker");
    }
    if (!mqtt_topic_valid(c->discovery_prefix, sizeof c->discovery_prefix - 1u) || c->discovery_prefix[0] == '$' ||
        strchr(c->discovery_prefix, '{')) {
        return cfg_refuse(key, why, "mqtt.discovery_prefix", "not a valid topic prefix (e.g. homeassistant)");
    }
    if (c->web_url[0] && strncmp(c->web_url, "http://", 7) != 0 && strncmp(c->web_url, "https://", 8) != 0) {
        return cfg_refuse(key, why, "mqtt.web_url", "must start with http:// or https:// (or be empty)");
    }
    for (const char *u = c->web_url; *u; u++) {
        if ((unsigned char)*u <= 0x20u || (unsigned char)*u >= 0x7Fu || *u == '"' || *u == '\\') {
            return cfg_refuse(key, why, "mqtt.web_url", "must be printable ASCII without spaces or quotes");
        }
    }
    if (c->web_url[0]) {
        /* the authority: HOST, HOST:PORT or [IPV6]:PORT, up to the path, query or fragment */
        const char *a = strstr(c->web_url, "//") + 2;
        size_t n = strcspn(a, "/?#");
        if (memchr(a, '@', n)) {
            return cfg_refuse(key, why, "mqtt.web_url", "must not carry a user name or password (user@host)");
        }
        if (netaddr_parse(a, n, NETADDR_PORT_OPTIONAL, NULL, &w) != TB_OK) {
            return cfg_refuse(key, why, "mqtt.web_url", w);
        }
    }
    for (const char *u = c->client_id; *u; u++) {
        if ((unsigned char)*u <= 0x20u || (unsigned char)*u >= 0x7Fu) {
            return cfg_refuse(key, why, "mqtt.client_id", "must be printable ASCII without spaces");
        }
    }
    return TB_OK;
}

bool mqtt_cfg_conn_equal(const mqtt_cfg_t *a, const mqtt_cfg_t *b)
{
    return a->enabled == b->enabled && strcmp(a->host, b->host) == 0 && a->port == b->port && a->tls == b->tls &&
           strcmp(a->ca_file, b->ca_file) == 0 && strcmp(a->username, b->username) == 0 &&
           strcmp(a->password, b->password) == 0 && strcmp(a->client_id, b->client_id) == 0 &&
           a->keepalive_s == b->keepalive_s && a->qos == b->qos && strcmp(a->base_topic, b->base_topic) == 0;
}
