/* api_json: JSON documents shared by the REST API and the WebSocket (same bytes for both), built
 * from a published view. Each writes one JSON value into w (core/jw.h). No allocation, no OS. */
#ifndef APP_API_JSON_H
#define APP_API_JSON_H

#include "app/gw_view.h"
#include "app/log.h"
#include "core/jw.h"

/* GET /api/bms/settings: {"valid","age_ms","device_limits","registers":[bms_json_register...]} */
void api_json_settings(jw_t *w, const gw_view_t *v);
/* GET /api/bms/events: the BMS event log as last read (oldest first) and the events that arrived
 * since the gateway started ("new_seq" numbers the newest; WebSocket clients use it). */
void api_json_events(jw_t *w, const gw_view_t *v);
/* GET /api/can/frames: mode, GX presence, counters and one row per frame id: direction ("tx",
 * "shadow" when computed but not sent, "rx" for the GX's frames), counts, age, payload, fields. */
void api_json_can_frames(jw_t *w, const gw_view_t *v);
/* One log line: {"seq","time_ms","level","module","msg"}. */
void api_json_log_entry(jw_t *w, const log_entry_t *e);

#endif
