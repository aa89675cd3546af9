/* gw_cmd: requests that change something, sent by the web and MQTT threads to the owner thread
 * (which alone talks to the UART and owns the gateway state), and their results.
 *
 * The owner executes a command either at once (configuration) or over several cycles (a BMS
 * write is a poller job: write, echo, read-back). Every command ends with rc (TB_OK or TB_ERR_*),
 * an HTTP-like status for the API, a one-line English message and, for some, a JSON result. */
#ifndef APP_GW_CMD_H
#define APP_GW_CMD_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    GW_CMD_CONFIG_UPDATE, /* text: partial JSON configuration (PUT /api/config, MQTT) */
    GW_CMD_CONFIG_RELOAD, /* reload the configuration file (SIGHUP) */
    GW_CMD_BMS_WRITE,     /* name + value: write one TinyBMS setting, validated, read back */
    GW_CMD_BMS_RESET,     /* option: TB_RESET_BMS / TB_RESET_CLEAR_EVENTS / TB_RESET_CLEAR_STATS */
    GW_CMD_CAN_SHADOW,    /* flag: listen-only on/off */
    GW_CMD_RESTART,       /* stop cleanly and start again (POST /api/system/restart) */
    GW_CMD_COUNT
} gw_cmd_type_t;

/* Build knobs: the largest configuration document a command carries, and its result. The firmware
 * (ports/esp-idf/components/tinybms_app) uses a smaller text. */
#ifndef GW_CMD_TEXT_MAX
#define GW_CMD_TEXT_MAX 16384u
#endif
#define GW_CMD_RESULT_MAX 4096u

typedef struct {
    gw_cmd_type_t type;
    char source[16];          /* "http", "mqtt", "signal": for the log */
    char text[GW_CMD_TEXT_MAX];
    char name[64];
    double value;
    uint8_t option;
    bool flag;
    /* result, filled by the owner */
    int rc;
    int status;               /* 200, 400, 409, 500, 503, 504 ... */
    char message[320];
    char result[GW_CMD_RESULT_MAX]; /* JSON object or "" */
} gw_cmd_t;

const char *gw_cmd_name(gw_cmd_type_t t);

/* The TinyBMS reset option (TB_RESET_*) named by what the API and the CLI accept: "bms",
 * "events" or "stats". False, *option untouched, for anything else. */
bool gw_cmd_reset_option(const char *what, uint8_t *option);

#endif
