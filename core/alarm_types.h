/* alarm_types: the vocabulary shared by alarm evaluation (core/alarms), the charge controller
 * (core/charge) and the Victron encoder (core/vcan).
 *
 * Categories follow the Victron CAN-bus BMS 0x35A layout (docs/victron-can.md) so that one alarm
 * set maps 1:1 onto the bus; communication loss with the TinyBMS is reported as BMS internal.
 */
#ifndef TB_ALARM_TYPES_H
#define TB_ALARM_TYPES_H

#include <stdint.h>

typedef enum {
    ALARM_LEVEL_OK = 0,
    ALARM_LEVEL_WARNING = 1,
    ALARM_LEVEL_ALARM = 2,
    ALARM_LEVEL_UNSUPPORTED = 3 /* this gateway does not evaluate the condition */
} alarm_level_t;

typedef enum {
    ALARM_GENERAL = 0,            /* GX: not implemented; we send "unsupported" */
    ALARM_HIGH_VOLTAGE,           /* highest cell at/above its limit */
    ALARM_LOW_VOLTAGE,            /* lowest cell at/below its limit */
    ALARM_HIGH_TEMP,
    ALARM_LOW_TEMP,
    ALARM_HIGH_TEMP_CHARGE,
    ALARM_LOW_TEMP_CHARGE,
    ALARM_HIGH_DISCHARGE_CURRENT,
    ALARM_HIGH_CHARGE_CURRENT,
    ALARM_CONTACTOR,              /* not applicable to a TinyBMS: unsupported */
    ALARM_SHORT_CIRCUIT,          /* not reported by a TinyBMS: unsupported */
    ALARM_BMS_INTERNAL,           /* TinyBMS fault status/events, or communication loss */
    ALARM_CELL_IMBALANCE,
    ALARM_COUNT
} alarm_id_t;

/* Level of every category; index with alarm_id_t. */
typedef struct {
    uint8_t level[ALARM_COUNT];
} alarm_set_t;

#endif
