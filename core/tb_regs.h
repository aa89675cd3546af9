/* tb_regs: the complete TinyBMS register map as one table, and raw <-> value conversion with
 * validation.
 *
 * Source: vendor "Tiny BMS Communication Protocols" Rev D (2025-07-04) and Rev B, as restated in
 * ../shared/reference/tinybms-registers.csv / tinybms-protocol.md §4. One row per register or
 * multi-register value (32-bit values listed once at their first address), reserved addresses
 * omitted. Groups: live 0-55, statistics 100-117, events 200-297 (49 slots), settings 300-343,
 * version 500-509. Only 300-399 are writable.
 *
 * Values are in the register's own unit (tb_reg_unit()): value = raw * scale. Settings keep the
 * vendor's units (mV, mA, A, degC, %, s, 0.01 Ah shown as Ah) because that is how TinyBMS owners
 * know them from Battery Insider; the typed snapshot in core/bms.h is in SI units.
 *
 * Limits: tb_reg_min()/tb_reg_max() are RAW limits from the document. Some limits depend on the
 * board and are set by the firmware (TB_REGF_DEVICE_LIMITS); the real ones can be read with
 * command 0x1D and passed to tb_reg_encode() to narrow the check.
 */
#ifndef TB_REGS_H
#define TB_REGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bms.h"
#include "core/tb_err.h"

typedef enum {
    TB_T_UINT16,    /* unsigned 16-bit */
    TB_T_INT16,     /* two's complement 16-bit */
    TB_T_UINT32,    /* two registers, low word first */
    TB_T_FLOAT32,   /* IEEE-754, two registers, low word first */
    TB_T_BITS16,    /* bitmap */
    TB_T_ENUM16,    /* code in the whole register */
    TB_T_ENUM8_LSB, /* code in the low byte; high byte reserved (written 0) */
    TB_T_UINT8X2,   /* two unsigned bytes with separate meanings (see `values`) */
    TB_T_INT8X2,    /* two signed bytes with separate meanings (see `values`) */
    TB_T_EVENT      /* event slot: two registers, 24-bit timestamp + event ID */
} tb_reg_type_t;

typedef enum { TB_GRP_LIVE, TB_GRP_STATS, TB_GRP_EVENTS, TB_GRP_SETTINGS, TB_GRP_VERSION } tb_reg_group_t;

enum {
    TB_REGF_WRITABLE = 1u << 0,      /* in the 300-399 window and documented as R/W */
    TB_REGF_RANGE = 1u << 1,         /* min/max are meaningful */
    TB_REGF_DEVICE_LIMITS = 1u << 2, /* firmware adjusts the range: prefer 0x1D min/max */
    TB_REGF_READBACK_FFFF = 1u << 3, /* reads 0xFFFF once the written value is accepted */
    TB_REGF_REBOOTS = 1u << 4,       /* writing a new value restarts the BMS */
    TB_REGF_REV_D = 1u << 5          /* defined since Rev C/D; reserved on older firmware */
};

/* Unit of a register's value (tb_reg_unit() gives the text). */
typedef enum {
    TB_U_NONE, TB_U_MV, TB_U_V, TB_U_A, TB_U_MA, TB_U_DEGC, TB_U_PCT, TB_U_S, TB_U_AH, TB_U_KM, TB_U_KMH,
    TB_U_COUNT
} tb_unit_t;

/* One row: 8 bytes. Small fields are bit-fields (read them as usual: r->type, r->words, ...);
 * the name, scale and raw range are shared pools indexed by the row (flash on a microcontroller:
 * a 16-bit offset and two small indexes instead of a pointer, a float and two int32 per row);
 * read them through tb_reg_name(), tb_reg_scale(), tb_reg_min() and tb_reg_max(). Unit, label
 * and value description through the accessors below too. */
typedef struct {
    uint16_t addr;
    uint16_t name_ofs;       /* tb_reg_name() */
    unsigned words : 2;      /* 1 or 2 */
    unsigned type : 4;       /* tb_reg_type_t */
    unsigned group : 3;      /* tb_reg_group_t */
    unsigned flags : 6;      /* TB_REGF_* */
    unsigned unit : 4;       /* tb_unit_t */
    unsigned has_values : 1; /* 1 if the register has a value description (tb_reg_values) */
    unsigned scale_idx : 3;  /* tb_reg_scale() */
    unsigned range_idx : 5;  /* tb_reg_min(), tb_reg_max() */
} tb_reg_t;

extern const tb_reg_t tb_regs[];
extern const size_t tb_regs_count;

/* Register whose value starts at addr; NULL if none (reserved or second word of a pair). */
const tb_reg_t *tb_reg_find(uint16_t addr);
/* Register by name (exact) or by decimal address string ("315"); NULL if unknown. */
const tb_reg_t *tb_reg_lookup(const char *name_or_addr);
const char *tb_reg_group_name(tb_reg_group_t g);
/* Unique snake_case name, e.g. "over_voltage_cutoff". Never NULL. */
const char *tb_reg_name(const tb_reg_t *r);
/* value = raw * scale (e.g. 0.1f for 0.1 mV steps, 1.0f for most). */
float tb_reg_scale(const tb_reg_t *r);
/* Raw limits, meaningful if TB_REGF_RANGE (0 otherwise). */
int32_t tb_reg_min(const tb_reg_t *r);
int32_t tb_reg_max(const tb_reg_t *r);
/* Unit of the value: "mV", "V", "A", "mA", "°C", "%", "s", "Ah", "km", "km/h" or "". Never NULL. */
const char *tb_reg_unit(const tb_reg_t *r);
/* Short human label ("Over-voltage cutoff"); "" when built with TB_CORE_DOCS=0. Never NULL. */
const char *tb_reg_label(const tb_reg_t *r);
/* Meaning of codes/bits/bytes, or NULL when the register has none ("" with TB_CORE_DOCS=0). */
const char *tb_reg_values(const tb_reg_t *r);
const char *tb_reg_type_name(tb_reg_type_t t);
/* Number of decimals worth printing for a value of this register (from its scale). */
unsigned tb_reg_decimals(const tb_reg_t *r);

/* Device-reported settings limits (command 0x1D options 1/2/3) for registers 300..343. */
typedef struct {
    bool valid;
    uint16_t min[BMS_SETTINGS_COUNT];
    uint16_t max[BMS_SETTINGS_COUNT];
    uint16_t def[BMS_SETTINGS_COUNT];
} tb_settings_limits_t;

/* Raw words (r->words of them) -> value in tb_reg_unit(r). Event slots give the event ID. */
double tb_reg_decode(const tb_reg_t *r, const uint16_t *words);
/* Signed/unsigned raw integer as the type defines it (for display and range checks). */
int64_t tb_reg_raw_int(const tb_reg_t *r, const uint16_t *words);

/* Value in tb_reg_unit(r) -> raw words, validating everything before writing `words`:
 *   TB_ERR_READONLY  register not writable
 *   TB_ERR_RANGE     not finite, not a multiple of the resolution, outside the documented range,
 *                    or outside the device-reported range (limits may be NULL)
 * *why (if not NULL) gets a static English reason. */
int tb_reg_encode(const tb_reg_t *r, double value, const tb_settings_limits_t *limits, uint16_t *words,
                  const char **why);

/* Cross-register rules of the settings block (raw registers 300..343), as Battery Insider
 * enforces them: under-voltage cut-off < fully discharged < fully charged < over-voltage cut-off,
 * each at least 10 mV apart; early balancing between fully discharged and over-voltage;
 * peak discharge cut-off (if set) above the discharge over-current cut-off; 4..16 series cells.
 * Returns TB_OK or TB_ERR_RANGE with *why set. */
int tb_settings_check(const uint16_t *raw, const char **why);

#endif
