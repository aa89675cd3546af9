/* mqtt_cmd: MQTT command topics and payloads -> gw_cmd_t, and the result document.
 *
 * Trust model: topic suffix and payload come from anyone who can publish to the broker. The
 * parser takes (bytes, length) without assuming NUL termination or valid UTF-8, accepts only the
 * forms below, and on any doubt refuses with a reason; nothing reaches the owner thread unless the
 * whole request is well-formed. Values are then validated by the owner exactly as for the web API
 * (app/gateway.c: register lookup, range, cross-register rules, BMS read-back).
 *
 * Topics (suffix after "<base>/cmd/") and payloads:
 *   bms/reset          restart the TinyBMS                     ""  | "PRESS" | {"id":..}
 *   bms/clear_events   clear the TinyBMS event log             same
 *   bms/clear_stats    clear the TinyBMS statistics            same
 *   bms/set            write one TinyBMS setting               {"name":"<register>","value":<number>,"id":..}
 *   can/shadow         CAN listen-only on/off                  "ON" | "OFF" | true | false | {"on":<bool>,"id":..}
 * "id" (optional) is a string of at most MQTT_CMD_ID_MAX-1 printable ASCII characters or an
 * integer; it is echoed in the result. Unknown members are refused. Payloads above
 * MQTT_CMD_PAYLOAD_MAX bytes are refused.
 *
 * Result (published on <base>/cmd/result, not retained):
 *   {"id":..,"command":"bms/set","rc":0,"error":"ok","status":200,"message":"..","result":{..}|null}
 *
 * No allocation except cJSON's (freed on every path); no OS calls.
 */
#ifndef APP_MQTT_CMD_H
#define APP_MQTT_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/gw_cmd.h"

#define MQTT_CMD_PAYLOAD_MAX 1024u
#define MQTT_CMD_ID_MAX 65u         /* id string, NUL included */
#define MQTT_CMD_RESULT_MAX (GW_CMD_RESULT_MAX + 1024u)

typedef enum {
    MQTT_CMD_BMS_RESET,
    MQTT_CMD_BMS_CLEAR_EVENTS,
    MQTT_CMD_BMS_CLEAR_STATS,
    MQTT_CMD_BMS_SET,
    MQTT_CMD_CAN_SHADOW,
    MQTT_CMD_KIND_COUNT
} mqtt_cmd_kind_t;

typedef struct {
    mqtt_cmd_kind_t kind;
    char id_json[MQTT_CMD_ID_MAX + 8u]; /* the id as a JSON value ("\"abc\"" or "42"), "" if none */
    char name[64];                      /* bms/set: register name, printable ASCII */
    double value;                       /* bms/set: finite */
    bool on;                            /* can/shadow */
} mqtt_cmd_req_t;

/* Topic suffix of a kind ("bms/set"), "unknown" out of range. */
const char *mqtt_cmd_topic(mqtt_cmd_kind_t k);

/* Parse one command. sub = topic suffix after "<base>/cmd/". Returns TB_OK with *out filled, or
 * TB_ERR_NOTFOUND (unknown command topic), TB_ERR_TOO_LARGE, TB_ERR_FORMAT (malformed payload)
 * with *why set to a static English reason. On error out->id_json still holds the request id
 * when one could be read (for the error reply), and out->kind is MQTT_CMD_KIND_COUNT when the
 * topic was unknown. */
int mqtt_cmd_parse(const char *sub, size_t sub_len, const uint8_t *payload, size_t len, mqtt_cmd_req_t *out,
                   const char **why);

/* Fill the command for the owner thread (type, name, value, option, flag, source "mqtt");
 * clears the result fields. */
void mqtt_cmd_to_gw(const mqtt_cmd_req_t *r, gw_cmd_t *c);

/* Render the result document. command: topic suffix (NULL or "" -> null); id_json may be "";
 * result_json: a JSON object from gw_cmd_t.result, or "" / NULL for null. Length or TB_ERR_*. */
int mqtt_cmd_result_json(char *out, size_t cap, const char *id_json, const char *command, int rc, int status,
                         const char *message, const char *result_json);

#endif
