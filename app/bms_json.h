/* bms_json: the TinyBMS picture as JSON, shared by `tinybms-cli --json`, the REST API and MQTT,
 * so that every interface names and scales the same fields the same way (docs/cli.md).
 *
 * Writers append one JSON value to a jw_t (core/jw.h); the caller owns the buffer. Values are SI
 * (V, A, W, °C, %, s) except register listings, which keep each register's own unit.
 * No allocation; no OS calls.
 */
#ifndef APP_BMS_JSON_H
#define APP_BMS_JSON_H

#include <stdint.h>

#include "core/bms.h"
#include "core/jw.h"
#include "core/tb_poll.h"
#include "core/tb_regs.h"

/* Live block: {"valid":..,"age_ms":..,"pack_voltage_v":..,"cells_v":[..],...}.
 * age_ms is now_ms - t_ms (null if never read). */
void bms_json_live(jw_t *w, const bms_live_t *l, uint32_t now_ms);
void bms_json_stats(jw_t *w, const bms_stats_t *s, uint32_t now_ms);
void bms_json_version(jw_t *w, const bms_version_t *v, uint32_t now_ms);
/* Events, oldest first, with names and classes. */
void bms_json_events(jw_t *w, const bms_events_t *e, uint32_t now_ms);
void bms_json_event(jw_t *w, const bms_event_t *e);

/* One register as {"address":..,"name":..,"value":..,"unit":..,"raw":..,...}.
 * words: r->words raw words. limits may be NULL (device min/max/default omitted). */
void bms_json_register(jw_t *w, const tb_reg_t *r, const uint16_t *words, const tb_settings_limits_t *limits);
/* Every settings register (300..343 from raw[]) as an array of bms_json_register objects. */
void bms_json_settings(jw_t *w, const bms_settings_t *s, const tb_settings_limits_t *limits, uint32_t now_ms);

/* Link statistics (requests, replies, timeouts, CRC errors, latency histogram ...). */
void bms_json_link(jw_t *w, const tb_link_stats_t *s, uint32_t now_ms);

/* English description of a TinyBMS event ID ("Over-voltage cutoff"), "Unknown event" if
 * undocumented (vendor list, protocol document chapter 4). Never NULL; static storage. */
const char *bms_json_event_name(uint8_t id);
/* The codes of the statistics and version blocks in words, for people (the JSON keeps the stable
 * identifiers): last reset cause (register 114 low byte), wake-up source (114 high byte), current
 * sensor (501 bits 9-10). "undocumented code" for a code the vendor does not list. */
const char *bms_json_reset_cause_text(uint8_t c);
const char *bms_json_wake_source_text(uint8_t c);
const char *bms_json_current_sensor_text(uint8_t c);

#endif
