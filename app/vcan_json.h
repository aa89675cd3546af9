/* vcan_json: decoded Victron CAN-bus BMS frames (core/vcan.h vcan_decode) as JSON members, for
 * the API's CAN monitor (app/can_sched) and the victron-can-decode tool. Presentation only: the
 * gateway's transmit path and its guard need none of it, so it lives in app/ and not in the
 * core a microcontroller carries.
 *
 * Thread safety: pure function of its arguments. Memory: none beyond the writer's buffer.
 */
#ifndef TB_VCAN_JSON_H
#define TB_VCAN_JSON_H

#include "core/jw.h"
#include "core/vcan.h"

/* Writes the decoded fields of m as JSON members (key/value pairs) into the object currently open
 * in w, e.g. "cvl_v":58.1,"ccl_a":110,... ; not-supported values are written as null. Does
 * nothing when w or m is NULL. */
void vcan_json_fields(jw_t *w, const vcan_msg_t *m);

#endif
