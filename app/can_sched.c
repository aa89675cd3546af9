#include "app/can_sched.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "app/vcan_json.h"
#include "core/hex.h"
#include "core/vcan.h"

/* ---- configuration -------------------------------------------------------------------------- */

#define S can_sched_cfg_t
static const cfg_param_t can_rows[] = {
    CFG_ROW_INT(S, fast_period_ms, "can.fast_period_ms", "ms", 200, 1000, 1000, CFG_F_ADVANCED,
                "Period of 0x351/0x355/0x356/0x35A; the GX stops the system when 0x351 is missing for 3 s, Victron asks for 1 s."),
    CFG_ROW_INT(S, burst_gap_ms, "can.burst_gap_ms", "ms", 20, 1000, 50, CFG_F_ADVANCED,
                "Minimum time between two bursts of the fast frames triggered by fresh BMS snapshots (bus hygiene); "
                "keep it below link.live_period_ms so that every snapshot goes out at once."),
    CFG_ROW_INT(S, status_period_ms, "can.status_period_ms", "ms", 1000, 5000, 2000, CFG_F_ADVANCED,
                "Period of the module, cell extreme and energy frames 0x372-0x378."),
    CFG_ROW_INT(S, identity_period_ms, "can.identity_period_ms", "ms", 1000, 10000, 5000, CFG_F_ADVANCED,
                "Period of the identity and capacity frames 0x35E, 0x35F, 0x370/0x371, 0x379, 0x380-0x382."),
    CFG_ROW_INT(S, gx_timeout_ms, "can.gx_timeout_ms", "ms", 1000, 60000, 5000, CFG_F_ADVANCED,
                "The GX counts as present while its 0x305 keepalive or 0x307 identification was seen within this time (diagnostic only)."),
    CFG_ROW_BOOL(S, shadow, "can.shadow", false, 0,
                 "Listen-only commissioning mode: compute and show every frame but transmit nothing."),
    CFG_ROW_STR(S, port, "can.port", 1, "socketcan:can0", CFG_F_RESTART,
                "CAN back-end: socketcan:IFACE, slcan:/dev/ttyACM0 (CANable, 500 kbit/s) or log:PATH[@SIZE] (candump -L file, renamed to PATH.1 past SIZE bytes, default 8M)."),
    CFG_ROW_STR(S, manufacturer, "can.manufacturer", 1, "TinyBMS", 0,
                "Manufacturer name in 0x35E (8 ASCII characters). Known battery brands are refused: the GX would apply that brand's DVCC quirks."),
    CFG_ROW_STR(S, battery_name, "can.battery_name", 0, "", 0,
                "Battery name in 0x370/0x371 (16 ASCII characters, shown by the GX); empty = not sent, the GX then uses 0x35E."),
    CFG_ROW_STR(S, serial, "can.serial", 0, "", 0,
                "Serial number in 0x380/0x381 (16 ASCII characters); empty = not sent."),
    CFG_ROW_STR(S, family, "can.family", 0, "", 0,
                "Battery family in 0x382 (8 ASCII characters); empty = not sent. Known brand family names are refused."),
};
#undef S

const cfg_section_t can_sched_cfg_section = {
    "can", can_rows, sizeof can_rows / sizeof can_rows[0], sizeof(can_sched_cfg_t),
};

static int cfg_fail(cfg_error_t *err, const char *key, const char *reason)
{
    if (err) {
        err->param = cfg_find(&can_sched_cfg_section, key);
        err->reason = reason;
    }
    return TB_ERR_RANGE;
}

static bool ascii_printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20u || (unsigned char)*s > 0x7Eu) {
            return false;
        }
    }
    return true;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0 && s[strlen(p)] != '\0';
}

int can_sched_cfg_validate(const can_sched_cfg_t *cfg, cfg_error_t *err)
{
    if (!cfg) {
        return TB_ERR_ARG;
    }
    int rc = cfg_validate(&can_sched_cfg_section, cfg, err);
    if (rc != TB_OK) {
        return rc;
    }
    if (cfg->burst_gap_ms >= cfg->fast_period_ms) {
        return cfg_fail(err, "can.burst_gap_ms", "must be shorter than can.fast_period_ms");
    }
    static const struct {
        const char *key;
        size_t off;
    } texts[] = {
        {"can.manufacturer", offsetof(can_sched_cfg_t, manufacturer)},
        {"can.battery_name", offsetof(can_sched_cfg_t, battery_name)},
        {"can.serial", offsetof(can_sched_cfg_t, serial)},
        {"can.family", offsetof(can_sched_cfg_t, family)},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = (const char *)cfg + texts[i].off;
        if (!ascii_printable(v)) {
            return cfg_fail(err, texts[i].key, "must be printable 7-bit ASCII (CAN text frames)");
        }
        /* The serial is not an identity the GX matches on; names and family are. */
        if (texts[i].off != offsetof(can_sched_cfg_t, serial) && vcan_is_known_brand(v, NULL)) {
            return cfg_fail(err, texts[i].key,
                            "names a known battery brand (the GX would apply that brand's DVCC quirks)");
        }
    }
    const char *why = can_sched_port_spec_error(cfg->port);
    if (why) {
        return cfg_fail(err, "can.port", why);
    }
    return TB_OK;
}

/* tty speeds an slcan adapter may be driven at: the ones the Linux back-end maps to termios
 * constants (ports/linux/can_slcan.c baud_const); a speed outside this list would make the port
 * refuse the spec for good at start-up, with CAN silent. */
static const uint32_t k_slcan_bauds[] = {9600u,   19200u,  38400u,   57600u,   115200u, 230400u,
                                         460800u, 921600u, 1000000u, 2000000u, 3000000u};

const char *can_sched_port_spec_error(const char *spec)
{
    if (has_prefix(spec, "socketcan:")) {
        /* a Linux interface name (dev_valid_name): 1..15 characters, no '/', ':' or space, not . or .. */
        const char *ifn = spec + 10;
        size_t n = strlen(ifn);
        if (n > 15u || strcmp(ifn, ".") == 0 || strcmp(ifn, "..") == 0 || strpbrk(ifn, "/: \t")) {
            return "socketcan: needs an interface name of 1..15 characters without '/', ':' or spaces "
                   "(e.g. socketcan:can0)";
        }
        return NULL;
    }
    if (has_prefix(spec, "slcan:")) {
        const char *at = strrchr(spec, '@');
        if (at) {
            uint32_t b = 0;
            const char *q = at + 1;
            for (; *q >= '0' && *q <= '9' && b <= 10000000u; q++) {
                b = b * 10u + (uint32_t)(*q - '0');
            }
            bool known = false;
            for (size_t i = 0; i < sizeof k_slcan_bauds / sizeof k_slcan_bauds[0]; i++) {
                known = known || (b == k_slcan_bauds[i] && *q == '\0' && q > at + 1);
            }
            if (!known) {
                return "slcan: the tty speed after '@' must be one of 9600, 19200, 38400, 57600, 115200, 230400, "
                       "460800, 921600, 1000000, 2000000, 3000000";
            }
            if (at == spec + 6) {
                return "slcan: the device path is missing (e.g. slcan:/dev/ttyACM0)";
            }
        }
        return NULL;
    }
    if (has_prefix(spec, "log:")) {
        const char *at = strrchr(spec, '@');
        uint64_t bytes;
        if (at && !can_sched_log_size(at + 1, &bytes)) {
            return "log: the size after '@' must be a number of bytes with an optional k or M suffix, at most 1024M "
                   "(e.g. log:/var/log/tinybms/can.log@16M; 0 = no bound)";
        }
        if (spec[4] == '\0' || spec + 4 == at) {
            return "log: the file path is missing (e.g. log:/var/log/tinybms/can.log)";
        }
        return NULL;
    }
    if (strcmp(spec, "twai") == 0) {
        return NULL;
    }
    return "must be socketcan:IFACE, slcan:DEVICE[@BAUD], log:PATH[@SIZE] or twai (the ESP32's controller)";
}

bool can_sched_log_size(const char *text, uint64_t *bytes)
{
    uint64_t v = 0;
    const char *q = text;
    for (; *q >= '0' && *q <= '9'; q++) {
        v = v * 10u + (uint64_t)(*q - '0');
        if (v > 1024u * 1024u * 1024u) {
            return false;
        }
    }
    if (q == text) {
        return false;
    }
    uint64_t unit = 1;
    if (*q == 'k' || *q == 'K') {
        unit = 1024u;
        q++;
    } else if (*q == 'M') {
        unit = 1024u * 1024u;
        q++;
    }
    if (*q != '\0' || v * unit > 1024u * 1024u * 1024u) {
        return false;
    }
    *bytes = v * unit;
    return true;
}

can_identity_t can_sched_identity(const can_sched_cfg_t *cfg)
{
    can_identity_t id = {cfg->manufacturer, cfg->battery_name, cfg->serial, cfg->family};
    return id;
}

/* ---- frame table ---------------------------------------------------------------------------- */

enum { G_FAST = 0, G_STATUS = 1, G_IDENTITY = 2, G_COUNT = 3 };

static const struct {
    uint16_t id;
    uint8_t group;
} slot_def[CAN_SCHED_SLOTS] = {
    {VCAN_ID_LIMITS, G_FAST},          {VCAN_ID_SOC, G_FAST},
    {VCAN_ID_BATTERY, G_FAST},         {VCAN_ID_ALARMS, G_FAST},
    {VCAN_ID_MODULES, G_STATUS},       {VCAN_ID_CELLS, G_STATUS},
    {VCAN_ID_MIN_CELL_V_ID, G_STATUS}, {VCAN_ID_MAX_CELL_V_ID, G_STATUS},
    {VCAN_ID_MIN_TEMP_ID, G_STATUS},   {VCAN_ID_MAX_TEMP_ID, G_STATUS},
    {VCAN_ID_ENERGY, G_STATUS},        {VCAN_ID_MANUFACTURER, G_IDENTITY},
    {VCAN_ID_INFO, G_IDENTITY},        {VCAN_ID_NAME1, G_IDENTITY},
    {VCAN_ID_NAME2, G_IDENTITY},       {VCAN_ID_CAPACITY, G_IDENTITY},
    {VCAN_ID_SERIAL1, G_IDENTITY},     {VCAN_ID_SERIAL2, G_IDENTITY},
    {VCAN_ID_FAMILY, G_IDENTITY},      {0, G_COUNT}, /* spare, never used */
};

/* Index of a frame id in the table, or -1. */
static int slot_index(uint32_t id)
{
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        if (slot_def[i].id != 0u && slot_def[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

static can_sched_slot_t *slot_of(can_sched_t *s, uint32_t id)
{
    int i = slot_index(id);
    return i < 0 ? NULL : &s->slot[i];
}

const can_sched_slot_t *can_sched_slot(const can_sched_t *s, uint16_t id)
{
    int i = slot_index(id);
    return (s && i >= 0) ? &s->slot[i] : NULL;
}

static int32_t group_period(const can_sched_t *s, unsigned g)
{
    switch (g) {
    case G_FAST: return s->cfg.fast_period_ms;
    case G_STATUS: return s->cfg.status_period_ms;
    default: return s->cfg.identity_period_ms;
    }
}

/* Text of the 8-character part `part` (0 or 1) of a longer string. */
static const char *text_part(const char *s, unsigned part)
{
    size_t n = strlen(s);
    size_t off = (size_t)part * VCAN_TEXT_MAX;
    return off < n ? s + off : "";
}

/* Builds frame `id` from the inputs. Returns > 0 (frame ready), 0 (not applicable now: gate closed
 * or value unknown), or < 0 (encoding failed although the frame was applicable). */
static int build(const can_inputs_t *in, uint16_t id, can_frame_t *f)
{
    switch (id) {
    case VCAN_ID_LIMITS: {
        if (!in->limits_valid) {
            return 0;
        }
        vcan_limits_t v = {in->cvl_v, in->ccl_a, in->dcl_a, in->dvl_v};
        return vcan_encode_limits(f, &v);
    }
    case VCAN_ID_SOC: {
        if (!in->measurements_valid) {
            return 0;
        }
        vcan_soc_t v = {in->soc_pct, in->soh_pct, VCAN_NA};
        return vcan_encode_soc(f, &v);
    }
    case VCAN_ID_BATTERY: {
        if (!in->measurements_valid) {
            return 0;
        }
        vcan_battery_t v = {in->pack_v, in->pack_a, in->pack_temp_c};
        return vcan_encode_battery(f, &v);
    }
    case VCAN_ID_ALARMS:
        return vcan_encode_alarms(f, &in->alarms, in->system_status);
    case VCAN_ID_MODULES:
        return vcan_encode_modules(f, &in->modules);
    case VCAN_ID_CELLS: {
        vcan_cells_t v = {in->cell_min_v, in->cell_max_v, in->temp_min_c, in->temp_max_c};
        return vcan_encode_cells(f, &v);
    }
    case VCAN_ID_MIN_CELL_V_ID:
        return in->cell_min_id[0] ? vcan_encode_text(f, id, in->cell_min_id) : 0;
    case VCAN_ID_MAX_CELL_V_ID:
        return in->cell_max_id[0] ? vcan_encode_text(f, id, in->cell_max_id) : 0;
    case VCAN_ID_MIN_TEMP_ID:
        return in->temp_min_id[0] ? vcan_encode_text(f, id, in->temp_min_id) : 0;
    case VCAN_ID_MAX_TEMP_ID:
        return in->temp_max_id[0] ? vcan_encode_text(f, id, in->temp_max_id) : 0;
    case VCAN_ID_ENERGY: {
        if (!isfinite(in->energy_in_wh) || !isfinite(in->energy_out_wh)) {
            return 0;
        }
        vcan_energy_t v = {in->energy_in_wh, in->energy_out_wh};
        return vcan_encode_energy(f, &v);
    }
    case VCAN_ID_MANUFACTURER:
        return in->manufacturer[0] ? vcan_encode_text(f, id, in->manufacturer) : 0;
    case VCAN_ID_INFO: {
        vcan_info_t v = {in->model_id, in->fw_major, in->fw_minor, in->capacity_online_ah, 0};
        return vcan_encode_info(f, &v);
    }
    case VCAN_ID_NAME1:
    case VCAN_ID_NAME2:
        return in->battery_name[0] ? vcan_encode_text(f, id, text_part(in->battery_name, (unsigned)(id - VCAN_ID_NAME1))) : 0;
    case VCAN_ID_CAPACITY: {
        if (!isfinite(in->capacity_installed_ah)) {
            return 0;
        }
        vcan_capacity_t v = {in->capacity_installed_ah};
        return vcan_encode_capacity(f, &v);
    }
    case VCAN_ID_SERIAL1:
    case VCAN_ID_SERIAL2:
        return in->serial[0] ? vcan_encode_text(f, id, text_part(in->serial, (unsigned)(id - VCAN_ID_SERIAL1))) : 0;
    case VCAN_ID_FAMILY:
        return in->family[0] ? vcan_encode_text(f, id, in->family) : 0;
    default:
        return 0;
    }
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int can_sched_init(can_sched_t *s, const can_sched_cfg_t *cfg, can_send_fn send, void *send_ctx, cfg_error_t *err)
{
    if (!s) {
        return TB_ERR_ARG;
    }
    memset(s, 0, sizeof *s);
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        s->slot[i].id = slot_def[i].id;
    }
    s->send = send;
    s->send_ctx = send_ctx;
    can_inputs_init(&s->in);
    s->in.transmit = false;
    return can_sched_configure(s, cfg, err);
}

int can_sched_configure(can_sched_t *s, const can_sched_cfg_t *cfg, cfg_error_t *err)
{
    if (!s || !cfg) {
        return TB_ERR_ARG;
    }
    int rc = can_sched_cfg_validate(cfg, err);
    if (rc != TB_OK) {
        return rc;
    }
    s->cfg = *cfg;
    s->configured = true;
    return TB_OK;
}

void can_sched_set_shadow(can_sched_t *s, bool shadow)
{
    if (s) {
        s->cfg.shadow = shadow;
    }
}

void can_sched_update(can_sched_t *s, const can_inputs_t *in, bool fresh_snapshot, uint32_t now_ms)
{
    (void)now_ms;
    if (!s || !in) {
        return;
    }
    s->in = *in;
    s->have_inputs = true;
    if (fresh_snapshot) {
        s->fresh_pending = true;
    }
}

/* ---- the TX path ---------------------------------------------------------------------------- */

static int refuse(can_sched_t *s, uint32_t *reason, uint32_t id, int rc)
{
    (*reason)++;
    s->n.refused++;
    s->n.last_refused_id = id;
    return rc;
}

static bool text_id(uint32_t id)
{
    return id == VCAN_ID_MANUFACTURER || id == VCAN_ID_NAME1 || id == VCAN_ID_NAME2 || id == VCAN_ID_FAMILY;
}

int can_sched_transmit(can_sched_t *s, const can_frame_t *f, uint32_t now_ms)
{
    if (!s || !f) {
        return TB_ERR_ARG;
    }
    /* 1. Shape: classic 11-bit data frames only. */
    if (f->flags != 0u || f->dlc > CAN_FRAME_MAX_DLC || f->id > CAN_FRAME_SFF_MASK) {
        return refuse(s, &s->n.refused_format, f->id, TB_ERR_ARG);
    }
    /* 2. Identity on the bus: never the GX's ids (two senders of one id corrupt arbitration and
     *    the GX's own traffic), and nothing outside the documented battery set. */
    if (vcan_is_gx_id(f->id)) {
        return refuse(s, &s->n.refused_gx_id, f->id, TB_ERR_UNSUPPORTED);
    }
    can_sched_slot_t *slot = slot_of(s, f->id);
    if (!slot) {
        return refuse(s, &s->n.refused_id, f->id, TB_ERR_UNSUPPORTED);
    }
    /* 3. Content: limits only when valid (invariant 1), current limits never negative, no brand. */
    if (f->id == VCAN_ID_LIMITS) {
        vcan_msg_t m;
        if (!s->in.limits_valid) {
            return refuse(s, &s->n.refused_limits, f->id, TB_ERR_STATE);
        }
        if (vcan_decode(f, &m) != TB_OK || f->dlc < 8u || !(m.u.limits.ccl_a >= 0.0f) || !(m.u.limits.dcl_a >= 0.0f)) {
            return refuse(s, &s->n.refused_limits, f->id, TB_ERR_RANGE);
        }
    }
    if (f->id == VCAN_ID_SOC) {
        /* Venus does not clamp SOC (65535 % is accepted): never let one out of 0..100 %. */
        vcan_msg_t m;
        if (vcan_decode(f, &m) != TB_OK || f->dlc < 4u || !(m.u.soc.soc_pct <= 100.0f) ||
            (!isnan(m.u.soc.soh_pct) && !(m.u.soc.soh_pct <= 100.0f))) {
            return refuse(s, &s->n.refused_format, f->id, TB_ERR_RANGE);
        }
    }
    if (text_id(f->id)) {
        vcan_msg_t m;
        if (vcan_decode(f, &m) == TB_OK && vcan_is_known_brand(m.u.text.text, NULL)) {
            return refuse(s, &s->n.refused_brand, f->id, TB_ERR_RANGE);
        }
    }
    /* 4. Mode. */
    if (!s->configured) {
        return TB_ERR_STATE;
    }
    if (!s->in.transmit) {
        s->n.stopped++;
        return TB_ERR_STATE;
    }
    slot->has_last = true;
    slot->last = *f;
    slot->last_ms = now_ms;
    if (s->cfg.shadow || !s->send) {
        slot->last_was_shadow = true;
        slot->shadow++;
        s->n.shadow_frames++;
        return TB_OK;
    }
    slot->last_was_shadow = false;
    int rc = s->send(s->send_ctx, f);
    if (rc < 0) {
        slot->errors++;
        s->n.tx_errors++;
        return rc;
    }
    slot->sent++;
    s->n.tx_frames++;
    return rc;
}

/* ---- scheduling ----------------------------------------------------------------------------- */

static bool has_data(const can_sched_t *s)
{
    return s->have_inputs && (s->in.limits_valid || s->in.measurements_valid);
}

static bool active(const can_sched_t *s)
{
    return s->configured && s->in.transmit && has_data(s);
}

static bool elapsed(uint32_t now, uint32_t since, int32_t period)
{
    return (int32_t)(now - since) >= period;
}

static bool group_due(const can_sched_t *s, unsigned g, uint32_t now)
{
    if (!s->group_ever[g]) {
        return true;
    }
    if (elapsed(now, s->group_last_ms[g], group_period(s, g))) {
        return true;
    }
    /* Fresh data goes out at once unless the previous burst also carried fresh data less than a
     * gap ago: a periodic (cadence) burst must not delay a reply that arrives just after it,
     * or every later reply would wait a whole gap too and the lag would lock in. */
    return g == G_FAST && s->fresh_pending &&
           (!s->last_burst_fresh || elapsed(now, s->group_last_ms[g], s->cfg.burst_gap_ms));
}

static int send_group(can_sched_t *s, unsigned g, uint32_t now)
{
    int handed = 0;
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        if (slot_def[i].group != g) {
            continue;
        }
        can_frame_t f;
        int rc = build(&s->in, slot_def[i].id, &f);
        if (rc == 0) {
            continue;
        }
        if (rc < 0) {
            s->n.encode_errors++;
            continue;
        }
        /* The guard may still refuse (and count); the schedule moves on either way. */
        if (can_sched_transmit(s, &f, now) >= 0) {
            handed++;
        }
    }
    s->group_ever[g] = true;
    s->group_last_ms[g] = now;
    return handed;
}

int can_sched_poll(can_sched_t *s, uint32_t now_ms)
{
    if (!s || !active(s)) {
        return 0;
    }
    int handed = 0;
    if (group_due(s, G_FAST, now_ms)) {
        s->last_burst_fresh = s->fresh_pending;
        handed += send_group(s, G_FAST, now_ms);
        s->fresh_pending = false;
        s->n.bursts++;
    }
    for (unsigned g = G_STATUS; g < G_COUNT; g++) {
        if (group_due(s, g, now_ms)) {
            handed += send_group(s, g, now_ms);
        }
    }
    return handed;
}

uint32_t can_sched_next_due_ms(const can_sched_t *s, uint32_t now_ms)
{
    if (!s || !active(s)) {
        return s ? (uint32_t)s->cfg.fast_period_ms : 1000u;
    }
    uint32_t best = UINT32_MAX;
    for (unsigned g = 0; g < G_COUNT; g++) {
        if (group_due(s, g, now_ms)) {
            return 0;
        }
        int32_t period = group_period(s, g);
        if (g == G_FAST && s->fresh_pending) {
            period = s->cfg.burst_gap_ms;
        }
        int32_t left = period - (int32_t)(now_ms - s->group_last_ms[g]);
        uint32_t l = left > 0 ? (uint32_t)left : 0u;
        if (l < best) {
            best = l;
        }
    }
    return best;
}

/* ---- receive side --------------------------------------------------------------------------- */

void can_sched_on_rx(can_sched_t *s, const can_frame_t *f, uint32_t now_ms)
{
    if (!s || !f || (f->flags & CAN_FLAG_ERR) != 0u) {
        return;
    }
    s->n.rx_frames++;
    bool std_data = (f->flags & (CAN_FLAG_EXT | CAN_FLAG_RTR)) == 0u;
    if (!std_data) {
        s->n.rx_other++;
        return;
    }
    switch (f->id) {
    case VCAN_ID_GX_KEEPALIVE:
        /* Payload is opaque (Venus >= 3.00 may put sense data there): presence only. */
        s->n.rx_gx_keepalive++;
        s->gx_seen = true;
        s->gx_last_ms = now_ms;
        return;
    case VCAN_ID_GX_INVERTER: {
        vcan_msg_t m;
        s->n.rx_gx_inverter++;
        s->gx_seen = true;
        s->gx_last_ms = now_ms;
        s->gx_signature_ok = vcan_decode(f, &m) == TB_OK && m.u.gx_id.signature_ok;
        return;
    }
    case VCAN_ID_GX_306:
        s->n.rx_gx_306++;
        return;
    default:
        break;
    }
    if (slot_index(f->id) >= 0) {
        s->n.rx_conflicts++;
        s->n.last_conflict_id = f->id;
        return;
    }
    s->n.rx_other++;
}

bool can_sched_gx_present(const can_sched_t *s, uint32_t now_ms)
{
    return s && s->gx_seen && (int32_t)(now_ms - s->gx_last_ms) < s->cfg.gx_timeout_ms;
}

uint32_t can_sched_gx_age_ms(const can_sched_t *s, uint32_t now_ms)
{
    return (s && s->gx_seen) ? now_ms - s->gx_last_ms : UINT32_MAX;
}

const char *can_sched_mode(const can_sched_t *s)
{
    if (!s || !s->configured) {
        return "unconfigured";
    }
    if (s->have_inputs && !s->in.transmit) {
        return "stopped";
    }
    if (!has_data(s)) {
        return "waiting";
    }
    return s->cfg.shadow ? "shadow" : "transmitting";
}

/* ---- monitor view --------------------------------------------------------------------------- */

void can_sched_json_id(jw_t *w, const char *key, uint32_t id)
{
    char b[6] = {'0', 'x', 0, 0, 0, '\0'};
    tb_hex_put(b + 2, id, 3u);
    jw_kv_str(w, key, b);
}

void can_sched_json_counters(jw_t *w, const can_sched_counters_t *n)
{
    jw_kv_uint(w, "tx_frames", n->tx_frames);
    jw_kv_uint(w, "tx_errors", n->tx_errors);
    jw_kv_uint(w, "shadow_frames", n->shadow_frames);
    jw_kv_uint(w, "encode_errors", n->encode_errors);
    jw_kv_uint(w, "bursts", n->bursts);
    jw_kv_uint(w, "refused", n->refused);
    jw_kv_uint(w, "refused_gx_id", n->refused_gx_id);
    jw_kv_uint(w, "refused_id", n->refused_id);
    jw_kv_uint(w, "refused_format", n->refused_format);
    jw_kv_uint(w, "refused_limits", n->refused_limits);
    jw_kv_uint(w, "refused_brand", n->refused_brand);
    jw_kv_uint(w, "stopped", n->stopped);
    jw_kv_uint(w, "rx_frames", n->rx_frames);
    jw_kv_uint(w, "rx_gx_306", n->rx_gx_306);
    jw_kv_uint(w, "rx_conflicts", n->rx_conflicts);
    jw_kv_uint(w, "rx_other", n->rx_other);
}

void can_sched_json_last(jw_t *w, const can_sched_slot_t *sl, uint32_t now_ms)
{
    if (!sl->has_last) {
        jw_kv_null(w, "age_ms");
        return;
    }
    char hex[2u * CAN_FRAME_MAX_DLC + 1u];
    hex[tb_hex_bytes(hex, sl->last.data, sl->last.dlc < CAN_FRAME_MAX_DLC ? sl->last.dlc : CAN_FRAME_MAX_DLC)] = '\0';
    jw_kv_uint(w, "age_ms", now_ms - sl->last_ms);
    jw_kv_str(w, "data", hex);
    vcan_msg_t m;
    if (vcan_decode(&sl->last, &m) == TB_OK) {
        jw_key(w, "fields");
        jw_obj_begin(w);
        vcan_json_fields(w, &m);
        jw_obj_end(w);
    }
}

void can_sched_json(const can_sched_t *s, jw_t *w, uint32_t now_ms)
{
    if (!s || !w) {
        return;
    }
    jw_obj_begin(w);
    jw_kv_str(w, "mode", can_sched_mode(s));
    jw_kv_bool(w, "shadow", s->cfg.shadow);
    jw_kv_bool(w, "limits_valid", s->in.limits_valid);
    jw_kv_bool(w, "measurements_valid", s->in.measurements_valid);

    jw_key(w, "gx");
    jw_obj_begin(w);
    jw_kv_bool(w, "present", can_sched_gx_present(s, now_ms));
    if (s->gx_seen) {
        jw_kv_uint(w, "last_seen_ms_ago", can_sched_gx_age_ms(s, now_ms));
    } else {
        jw_kv_null(w, "last_seen_ms_ago");
    }
    jw_kv_uint(w, "keepalive_frames", s->n.rx_gx_keepalive);
    jw_kv_uint(w, "inverter_id_frames", s->n.rx_gx_inverter);
    jw_kv_bool(w, "inverter_signature_ok", s->gx_signature_ok);
    jw_obj_end(w);

    jw_key(w, "counters");
    jw_obj_begin(w);
    can_sched_json_counters(w, &s->n);
    jw_obj_end(w);

    jw_key(w, "frames");
    jw_arr_begin(w);
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        const can_sched_slot_t *sl = &s->slot[i];
        if (sl->id == 0u) {
            continue;
        }
        jw_obj_begin(w);
        can_sched_json_id(w, "id", sl->id);
        jw_kv_str(w, "name", vcan_id_name(sl->id));
        jw_kv_uint(w, "sent", sl->sent);
        jw_kv_uint(w, "errors", sl->errors);
        jw_kv_uint(w, "shadow", sl->shadow);
        if (sl->has_last) {
            can_sched_json_last(w, sl, now_ms);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}
