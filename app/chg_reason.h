/* chg_reason: the charge controller's decision as one English sentence for the UI, the API,
 * MQTT and the log ("charge stopped: highest cell 3.652 V at/above BMS over-voltage cut-off
 * 3.650 V"). The controller (core/charge) decides and reports what binds each limit as codes and
 * values in chg_limits_t; this module only words them, so that the core on a microcontroller
 * carries no English text.
 *
 * Thread safety: pure function of its arguments. Memory: writes `cap` bytes at most.
 */
#ifndef TB_CHG_REASON_H
#define TB_CHG_REASON_H

#include <stddef.h>

#include "core/charge.h"

/* Write the reason for `l` (a chg_step() result) into buf (NUL-terminated, truncated to cap-1
 * characters; CHG_REASON_LEN holds every sentence). buf may be l->reason: only the other fields
 * are read. Nothing is written when cap is 0. */
void chg_reason_format(const chg_limits_t *l, char *buf, size_t cap);

/* chg_reason_format(l, l->reason, sizeof l->reason): what the gateway does after each step. */
void chg_reason_fill(chg_limits_t *l);

#endif
