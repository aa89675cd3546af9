#include "core/tb_poll.h"

#include <string.h>

/* ---- configuration schema ----------------------------------------------------------------- */

#define ROW_INT(F, KEY, UNIT, MIN, MAX, DEF, FLAGS, DOC) CFG_ROW_INT(tb_poll_cfg_t, F, KEY, UNIT, MIN, MAX, DEF, FLAGS, DOC)

static const cfg_param_t k_link_params[] = {
    ROW_INT(live_period_ms, "link.live_period_ms", "ms", 50, 10000, 100, 0,
            "Period of the live-data read (cells, pack V/I, SOC, temperatures, status). The TinyBMS measures every 100 ms, "
            "so 100 ms gives the fastest reaction; reads also keep the BMS awake."),
    ROW_INT(settings_period_ms, "link.settings_period_ms", "ms", 0, 3600000, 30000, 0,
            "Period of the settings re-read (registers 300-343), to notice changes made with other tools; 0 = only at start "
            "and after writes."),
    ROW_INT(stats_period_ms, "link.stats_period_ms", "ms", 0, 3600000, 10000, 0,
            "Period of the statistics read (registers 100-117); 0 = never."),
    ROW_INT(events_period_ms, "link.events_period_ms", "ms", 0, 3600000, 10000, 0,
            "Period of the event-log read (registers 200-297); new events are published as they appear; 0 = never."),
    CFG_ROW_BOOL(tb_poll_cfg_t, read_device_limits, "link.read_device_limits", 1, 0,
                 "Read the BMS's own minimum, maximum and default settings (command 0x1D) at start, to validate writes "
                 "against this board's real limits."),
    ROW_INT(reply_timeout_ms, "link.reply_timeout_ms", "ms", 20, 5000, 250, CFG_F_ADVANCED,
            "How long to wait for a reply. Real replies take under 15 ms for the largest read; USB adapters add up to "
            "16 ms."),
    ROW_INT(wake_timeout_ms, "link.wake_timeout_ms", "ms", 10, 2000, 100, CFG_F_ADVANCED,
            "When the BMS may be asleep, how long to wait after the first copy of a request before sending it again "
            "(the first copy only wakes it)."),
    ROW_INT(sleep_after_ms, "link.sleep_after_ms", "ms", 1000, 60000, 9000, CFG_F_ADVANCED,
            "Silence after which the BMS may have gone to sleep (it sleeps after 10 s without UART traffic)."),
    ROW_INT(max_retries, "link.max_retries", "", 0, 5, 2, CFG_F_ADVANCED,
            "Resends of a request that got no valid reply before it counts as a timeout."),
    ROW_INT(backoff_min_ms, "link.backoff_min_ms", "ms", 0, 60000, 250, CFG_F_ADVANCED,
            "Pause after a failed transaction; doubles on each further failure up to link.backoff_max_ms."),
    ROW_INT(backoff_max_ms, "link.backoff_max_ms", "ms", 0, 600000, 2000, CFG_F_ADVANCED,
            "Longest pause between attempts while the BMS does not answer; kept below failsafe.stale_ms so "
            "that a short outage is bridged by a retry before the data counts as stale."),
    ROW_INT(link_down_after, "link.link_down_after", "", 1, 100, 3, CFG_F_ADVANCED,
            "Consecutive failed transactions after which the link is reported down."),
    ROW_INT(rx_gap_ms, "link.rx_gap_ms", "ms", 0, 1000, 50, CFG_F_ADVANCED,
            "A partial reply is abandoned when no byte arrives for this long (0 = never)."),
};

const cfg_section_t tb_poll_cfg_section = {"link", k_link_params, sizeof k_link_params / sizeof k_link_params[0],
                                           sizeof(tb_poll_cfg_t)};

void tb_poll_cfg_defaults(tb_poll_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg_set_defaults(&tb_poll_cfg_section, cfg);
}

void tb_poll_cfg_oneshot(tb_poll_cfg_t *cfg)
{
    tb_poll_cfg_defaults(cfg);
    cfg->settings_period_ms = 0;
    cfg->stats_period_ms = 0;
    cfg->events_period_ms = 0;
    cfg->read_device_limits = false;
    cfg->live_period_ms = 0; /* below the schema minimum on purpose: one-shot tools use jobs only */
}

/* ---- blocks --------------------------------------------------------------------------------- */

enum { KIND_READ, KIND_WRITE, KIND_QUERY, KIND_RESET, KIND_EVENTS, KIND_VERSION };

typedef struct {
    uint8_t kind;
    uint16_t addr;
    uint8_t count;
    uint8_t option;
} blk_desc_t;

static const blk_desc_t k_blocks[TB_BLK_COUNT] = {
    [TB_BLK_LIVE] = {KIND_READ, BMS_LIVE_FIRST, BMS_LIVE_COUNT, 0},
    [TB_BLK_SETTINGS] = {KIND_READ, BMS_SETTINGS_FIRST, BMS_SETTINGS_COUNT, 0},
    [TB_BLK_VERSION] = {KIND_READ, BMS_VERSION_FIRST, BMS_VERSION_COUNT, 0},
    [TB_BLK_STATS] = {KIND_READ, BMS_STATS_FIRST, BMS_STATS_COUNT, 0},
    [TB_BLK_EVENTS] = {KIND_READ, 200, 2u * BMS_EVENT_SLOTS, 0},
    [TB_BLK_LIMITS_MIN] = {KIND_QUERY, BMS_SETTINGS_FIRST, BMS_SETTINGS_COUNT, TB_SETTINGS_MIN},
    [TB_BLK_LIMITS_MAX] = {KIND_QUERY, BMS_SETTINGS_FIRST, BMS_SETTINGS_COUNT, TB_SETTINGS_MAX},
    [TB_BLK_LIMITS_DEF] = {KIND_QUERY, BMS_SETTINGS_FIRST, BMS_SETTINGS_COUNT, TB_SETTINGS_DEFAULT},
};

/* Blocks read at start and after a BMS restart, then retried this often until they succeed. */
#define ONCE_RETRY_MS 10000u
/* A "once" block that failed this many times is given up until the next BMS restart (e.g. a
 * firmware or bridge that does not implement 0x1D). */
#define ONCE_MAX_FAILURES 3u
/* After a reset or a write that reboots the BMS, wait this long before re-reading its identity. */
#define RESTART_SETTLE_MS 2000u
/* A lifetime counter that goes back by more than this is a BMS restart. */
#define RESTART_LIFETIME_SLACK_S 5u

const uint16_t tb_rtt_bucket_ms[TB_RTT_BUCKETS - 1u] = {2, 5, 10, 20, 50, 100, 200, 500};

const char *tb_block_name(tb_block_t b)
{
    switch (b) {
    case TB_BLK_LIVE: return "live";
    case TB_BLK_SETTINGS: return "settings";
    case TB_BLK_VERSION: return "version";
    case TB_BLK_STATS: return "statistics";
    case TB_BLK_EVENTS: return "events";
    case TB_BLK_LIMITS_MIN: return "limits_min";
    case TB_BLK_LIMITS_MAX: return "limits_max";
    case TB_BLK_LIMITS_DEF: return "limits_default";
    case TB_BLK_COUNT: break;
    }
    return "unknown";
}

static bool is_once(tb_block_t b)
{
    return b == TB_BLK_VERSION || b == TB_BLK_LIMITS_MIN || b == TB_BLK_LIMITS_MAX || b == TB_BLK_LIMITS_DEF;
}

static uint32_t period_of(const tb_poll_t *p, tb_block_t b)
{
    switch (b) {
    case TB_BLK_LIVE: return (uint32_t)p->cfg.live_period_ms;
    case TB_BLK_SETTINGS: return (uint32_t)p->cfg.settings_period_ms;
    case TB_BLK_STATS: return (uint32_t)p->cfg.stats_period_ms;
    case TB_BLK_EVENTS: return (uint32_t)p->cfg.events_period_ms;
    default: return 0;
    }
}

static bool due(uint32_t now, uint32_t at)
{
    return (int32_t)(now - at) >= 0;
}

/* Schedule the reads that follow a (re)start of the BMS. */
static void schedule_identity_reads(tb_poll_t *p, uint32_t at)
{
    for (unsigned b = 0; b < TB_BLK_COUNT; b++) {
        tb_block_t blk = (tb_block_t)b;
        bool limits = blk == TB_BLK_LIMITS_MIN || blk == TB_BLK_LIMITS_MAX || blk == TB_BLK_LIMITS_DEF;
        if (limits) {
            p->enabled[b] = p->cfg.read_device_limits;
        } else if (blk == TB_BLK_VERSION) {
            p->enabled[b] = true;
        } else if (blk == TB_BLK_SETTINGS) {
            p->enabled[b] = true; /* always needed for a complete snapshot, period or not */
        } else if (blk != TB_BLK_LIVE) {
            p->enabled[b] = period_of(p, blk) > 0u;
        }
        if (blk != TB_BLK_LIVE) {
            p->next_due[b] = at;
            p->failures[b] = 0;
        }
    }
    p->limit_parts = 0;
    p->limits.valid = false;
}

/* ---- init ---------------------------------------------------------------------------------- */

/* Every INT row clamped to [min, max]. In integers: the field is an int32_t and the row's bounds
 * are whole numbers well inside int32_t (exact as float), so comparing and storing them as
 * int32_t gives what cfg_get_number/cfg_set_number did in double, without the double calls. */
static void clamp_cfg(tb_poll_cfg_t *c)
{
    for (size_t i = 0; i < sizeof k_link_params / sizeof k_link_params[0]; i++) {
        const cfg_param_t *prm = &k_link_params[i];
        if (prm->type != CFG_INT) {
            continue;
        }
        uint8_t *field = (uint8_t *)c + prm->offset;
        int32_t v, lo = (int32_t)prm->min, hi = (int32_t)prm->max;
        memcpy(&v, field, sizeof v);
        if (v < lo) {
            v = lo;
        } else if (v > hi) {
            v = hi;
        }
        memcpy(field, &v, sizeof v);
    }
}

void tb_poll_init(tb_poll_t *p, const tb_poll_cfg_t *cfg, uint32_t now_ms)
{
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    bool live_off = cfg->live_period_ms <= 0;
    clamp_cfg(&p->cfg);
    if (live_off) {
        p->cfg.live_period_ms = 0; /* one-shot mode keeps its "never" */
    }
    tb_rx_init(&p->rx, (uint32_t)p->cfg.rx_gap_ms);
    p->enabled[TB_BLK_LIVE] = !live_off;
    p->next_due[TB_BLK_LIVE] = now_ms;
    schedule_identity_reads(p, now_ms);
    if (live_off) {
        /* one-shot: nothing periodic or automatic at all */
        for (unsigned b = 0; b < TB_BLK_COUNT; b++) {
            p->enabled[b] = false;
        }
    }
    p->stats.link_up = false;
}

void tb_poll_reconfigure(tb_poll_t *p, const tb_poll_cfg_t *cfg, uint32_t now_ms)
{
    bool live_off = cfg->live_period_ms <= 0;
    p->cfg = *cfg;
    clamp_cfg(&p->cfg);
    if (live_off) {
        p->cfg.live_period_ms = 0;
    }
    p->rx.gap_ms = (uint32_t)p->cfg.rx_gap_ms;
    p->enabled[TB_BLK_LIVE] = !live_off;
    static const tb_block_t periodic[] = {TB_BLK_STATS, TB_BLK_EVENTS};
    for (unsigned i = 0; i < sizeof periodic / sizeof periodic[0]; i++) {
        tb_block_t b = periodic[i];
        bool on = period_of(p, b) > 0u;
        if (on && !p->enabled[b]) {
            p->next_due[b] = now_ms;
        }
        p->enabled[b] = on;
    }
    if (period_of(p, TB_BLK_SETTINGS) > 0u && !p->enabled[TB_BLK_SETTINGS]) {
        p->enabled[TB_BLK_SETTINGS] = true;
        p->next_due[TB_BLK_SETTINGS] = now_ms + period_of(p, TB_BLK_SETTINGS);
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

static bool maybe_asleep(const tb_poll_t *p, uint32_t now)
{
    return !p->stats.ever_replied || (uint32_t)(now - p->stats.last_reply_ms) >= (uint32_t)p->cfg.sleep_after_ms;
}

/* Prepare p->req for sending at the next step. Returns TB_OK or an encoder error. */
static int prepare(tb_poll_t *p, uint8_t kind, uint16_t addr, uint8_t count, uint8_t option, const uint16_t *vals,
                   uint32_t now)
{
    tb_request_t *r = &p->req;
    memset(r, 0, offsetof(tb_request_t, first_sent_ms));
    r->kind = kind;
    r->addr = addr;
    r->count = count;
    r->option = option;
    r->idempotent = true;
    int n;
    switch (kind) {
    case KIND_READ:
        r->cmd = TB_CMD_MB_READ;
        n = tb_enc_read(r->bytes, sizeof r->bytes, addr, count);
        break;
    case KIND_WRITE:
        r->cmd = TB_CMD_MB_WRITE;
        n = tb_enc_write(r->bytes, sizeof r->bytes, addr, vals, count);
        break;
    case KIND_QUERY:
        r->cmd = TB_CMD_SETTINGS;
        n = tb_enc_settings_query(r->bytes, sizeof r->bytes, option, count);
        break;
    case KIND_RESET:
        r->cmd = TB_CMD_RESET;
        r->idempotent = option != TB_RESET_BMS;
        n = tb_enc_reset(r->bytes, sizeof r->bytes, option);
        break;
    case KIND_EVENTS:
        r->cmd = option;
        n = tb_enc_simple(r->bytes, sizeof r->bytes, option);
        break;
    case KIND_VERSION:
        r->cmd = TB_CMD_VERSION_EXT;
        n = tb_enc_simple(r->bytes, sizeof r->bytes, TB_CMD_VERSION_EXT);
        break;
    default:
        n = TB_ERR_ARG;
        break;
    }
    if (n < 0) {
        return n;
    }
    r->len = (uint16_t)n;
    r->started_asleep = maybe_asleep(p, now);
    p->waiting = true;
    p->send_now = true;
    return TB_OK;
}

static void end_transaction(tb_poll_t *p, uint32_t now)
{
    p->waiting = false;
    p->send_now = false;
    p->last_cmd = p->req.cmd;
    p->last_done_ms = now;
}

/* ---- pairing replies with requests --------------------------------------------------------- *
 *
 * A reply names no request: all the poller can compare is its shape (command and length) and
 * when it arrives. The danger is a reply that comes after its request timed out while a new
 * request of the same shape is outstanding: taken as the answer to the new one, its data would be
 * stamped with the new send time and look fresh however old it is (a BMS or adapter that delays
 * every reply by 6 s gave "fresh" data 6 s old 97 % of the time, and charging went on).
 *
 * Rules that look only at timing do not tell the two apart:
 *   - waiting after a time-out until the line has been quiet for rx_gap_ms (and dropping what came
 *     meanwhile) catches replies a little late, but a reply 6 s late arrives on a quiet line,
 *     after the next request was sent;
 *   - dropping a reply that began before the new request was sent (done as well: the receive
 *     buffer is flushed at every send) catches only replies already on the wire at that moment;
 *   - a quiet time long enough to be safe would have to exceed the longest delay, which nothing
 *     bounds, and would stall the link after every lost reply.
 * What does tell them apart is the shape, together with the one property every serial slave
 * has: it answers requests in the order it received them. So the poller remembers the shapes
 * whose replies may still be on the way ("unsure": a transaction that timed out, or that was
 * answered after a resend, so that another copy's answer may follow) and never sends a request of
 * an unsure shape. A request of any other shape that is answered in time at its first copy proves
 * that everything sent before it has been answered or lost: the unsure set is cleared. When the
 * request due next has an unsure shape, a sync read (registers 0..n-1, n = 1..SYNC_COUNTS not
 * unsure) goes first; it carries no data. A late reply can then never be taken as the answer to a
 * later request, whatever its delay, and a lost reply costs one short read. If every sync count
 * is unsure (16 failed syncs in a row, about 40 s at the longest backoff) they are forgotten and
 * the cycle starts again: a sync reply more than that late could then be taken for a newer sync's
 * answer, but by the same ordering argument every data request sent before the syncs began has
 * been answered or lost by then, so no data can be mis-paired; only a one-shot read of 1..16
 * registers right after could receive a sync's old answer.
 *
 * Within one transaction the copies are indistinguishable: a reply arriving after the second copy
 * was sent may answer the first. It is accepted (that is what the resend is for) and stamped with
 * the first copy's send time, the earliest send it could answer; its age therefore includes
 * every resend. After the last copy's reply time-out nothing is accepted: the transaction fails,
 * and a reply arriving later is discarded and counted as late (late_replies). */
#define SYNC_ADDR 0u    /* the cell voltages: readable on every TinyBMS */
#define SYNC_COUNTS 16u

static unsigned shape_bit(uint8_t kind, uint8_t count)
{
    return kind == KIND_READ ? (count & 127u) : 128u + kind;
}

static bool shape_unsure(const tb_poll_t *p, uint8_t kind, uint8_t count)
{
    unsigned b = shape_bit(kind, count);
    return ((p->unsure[b >> 5] >> (b & 31u)) & 1u) != 0u;
}

static bool any_unsure(const tb_poll_t *p)
{
    return (p->unsure[0] | p->unsure[1] | p->unsure[2] | p->unsure[3] | p->unsure[4]) != 0u;
}

/* The outstanding transaction ends: `answered` by a reply accepted as its data, or `timed_out`
 * (otherwise it got an error reply: a NACK names no length, so it proves nothing about order). */
static void settle_shapes(tb_poll_t *p, bool answered, bool timed_out)
{
    const tb_request_t *r = &p->req;
    if (answered) {
        /* In time, and no unsure request had this shape when it was first sent (requests of unsure
         * shapes are never started): the reply answers one of its copies, so every request sent
         * before the first copy has been answered or lost, the BMS answering in order. */
        memset(p->unsure, 0, sizeof p->unsure);
    }
    if (timed_out || r->attempt > 0u) {
        /* copies of this transaction may still be answered */
        unsigned b = shape_bit(r->kind, r->count);
        p->unsure[b >> 5] |= 1u << (b & 31u);
    }
}

/* The line is out of step and the next request would have an unsure shape: a sync read first. */
static void start_sync(tb_poll_t *p, uint32_t now)
{
    uint8_t n = 1;
    while (n <= SYNC_COUNTS && shape_unsure(p, KIND_READ, n)) {
        n++;
    }
    if (n > SYNC_COUNTS) {
        p->unsure[0] &= ~(((1u << SYNC_COUNTS) - 1u) << 1);
        n = 1;
    }
    if (prepare(p, KIND_READ, SYNC_ADDR, n, 0, NULL, now) == TB_OK) {
        p->req.is_sync = true;
    }
}

/* A transaction got an answer from the BMS (a data reply, ACK or NACK): the link is alive. */
static void link_alive(tb_poll_t *p, uint32_t now)
{
    tb_link_stats_t *s = &p->stats;
    s->replies++;
    s->ever_replied = true;
    s->last_reply_ms = now;
    s->consecutive_failures = 0;
    s->link_up = true;
    uint32_t rtt = now - p->req.sent_ms;
    s->last_rtt_ms = rtt;
    unsigned b = 0;
    while (b < TB_RTT_BUCKETS - 1u && rtt > tb_rtt_bucket_ms[b]) {
        b++;
    }
    s->rtt_hist[b]++;
    if (p->req.attempt > 0u && p->req.started_asleep) {
        s->wakeups++;
    }
    p->backoff_ms = 0;
    p->in_backoff = false;
}

static void link_failed(tb_poll_t *p, uint32_t now)
{
    tb_link_stats_t *s = &p->stats;
    s->consecutive_failures++;
    if (s->consecutive_failures >= (uint32_t)p->cfg.link_down_after) {
        s->link_up = false;
    }
    uint32_t lo = (uint32_t)p->cfg.backoff_min_ms, hi = (uint32_t)p->cfg.backoff_max_ms;
    p->backoff_ms = p->backoff_ms == 0u ? lo : p->backoff_ms * 2u;
    if (p->backoff_ms > hi) {
        p->backoff_ms = hi;
    }
    p->backoff_until = now + p->backoff_ms;
    p->in_backoff = p->backoff_ms > 0u;
}

/* ---- completion of block reads ----------------------------------------------------------- */

/* rc: TB_OK, or why the read failed. */
static void reschedule(tb_poll_t *p, tb_block_t b, int rc, uint32_t now)
{
    bool ok = rc == TB_OK;
    if (is_once(b)) {
        if (ok) {
            p->enabled[b] = false;
        } else {
            p->failures[b]++;
            p->next_due[b] = now + ONCE_RETRY_MS;
            if (p->failures[b] >= ONCE_MAX_FAILURES) {
                p->enabled[b] = false;
            }
            /* A "command error" NACK (or Modbus "illegal function") to 0x1D means this firmware or bridge does not implement it:
             * asking again (or for the other two tables) would only cost time. */
            if (rc == TB_ERR_NACK && b >= TB_BLK_LIMITS_MIN &&
                (p->last_nack == TB_NACK_COMMAND || p->last_nack == (TB_NACK_MODBUS_EXCEPTION | 1u))) {
                p->enabled[TB_BLK_LIMITS_MIN] = false;
                p->enabled[TB_BLK_LIMITS_MAX] = false;
                p->enabled[TB_BLK_LIMITS_DEF] = false;
            }
        }
        return;
    }
    uint32_t period = period_of(p, b);
    if (period == 0u) {
        /* settings without a period: read once (at start, after writes/restarts), retried until ok */
        if (ok) {
            p->enabled[b] = false;
        } else {
            p->next_due[b] = now + ONCE_RETRY_MS;
        }
        return;
    }
    if (!ok) {
        p->failures[b]++;
        p->next_due[b] = now + period;
        return;
    }
    p->failures[b] = 0;
    /* keep the cadence anchored to the first send; never schedule in the past twice */
    uint32_t next = p->req.first_sent_ms + period;
    p->next_due[b] = next;
}

static bool same_event(const bms_event_t *a, const bms_event_t *b)
{
    return a->timestamp_s == b->timestamp_s && a->id == b->id;
}

static void collect_new_events(tb_poll_t *p, const bms_events_t *now_ev)
{
    if (p->events_seen) {
        for (unsigned i = 0; i < now_ev->count; i++) {
            bool known = false;
            for (unsigned j = 0; j < p->events.count && !known; j++) {
                known = same_event(&now_ev->ev[i], &p->events.ev[j]);
            }
            if (!known && p->new_count < BMS_EVENT_SLOTS) {
                p->new_events[p->new_count++] = now_ev->ev[i];
            }
        }
    }
    p->events_seen = true;
    p->events = *now_ev;
}

/* Decode a block read into the snapshot, stamped `now` (the time the request was first sent).
 * Returns TB_OK or a decode error. */
static int apply_block(tb_poll_t *p, tb_block_t b, const uint16_t *regs, uint32_t now)
{
    const char *why = NULL;
    int rc = TB_OK;
    switch (b) {
    case TB_BLK_LIVE:
        rc = bms_decode_live(&p->snap.live, regs, BMS_LIVE_COUNT, now, &why);
        if (rc == TB_OK) {
            uint32_t life = p->snap.live.lifetime_s;
            if (p->have_lifetime && life + RESTART_LIFETIME_SLACK_S < p->last_lifetime_s) {
                p->stats.bms_restarts++;
                schedule_identity_reads(p, now);
            }
            p->have_lifetime = true;
            p->last_lifetime_s = life;
        }
        break;
    case TB_BLK_SETTINGS:
        rc = bms_decode_settings(&p->snap.settings, regs, BMS_SETTINGS_COUNT, now, &why);
        break;
    case TB_BLK_VERSION:
        rc = bms_decode_version(&p->snap.version, regs, BMS_VERSION_COUNT, now, &why);
        break;
    case TB_BLK_STATS:
        rc = bms_decode_stats(&p->snap.stats, regs, BMS_STATS_COUNT, now, &why);
        break;
    case TB_BLK_EVENTS: {
        bms_events_t ev;
        rc = bms_decode_event_regs(&ev, regs, 2u * BMS_EVENT_SLOTS, now);
        if (rc == TB_OK) {
            collect_new_events(p, &ev);
        }
        break;
    }
    case TB_BLK_LIMITS_MIN:
    case TB_BLK_LIMITS_MAX:
    case TB_BLK_LIMITS_DEF: {
        uint16_t *dst = b == TB_BLK_LIMITS_MIN ? p->limits.min : b == TB_BLK_LIMITS_MAX ? p->limits.max : p->limits.def;
        memcpy(dst, regs, BMS_SETTINGS_COUNT * sizeof(uint16_t));
        p->limit_parts = (uint16_t)(p->limit_parts | (1u << (b - TB_BLK_LIMITS_MIN)));
        p->limits.valid = p->limit_parts == 0x7u;
        break;
    }
    case TB_BLK_COUNT:
        rc = TB_ERR_ARG;
        break;
    }
    if (rc == TB_OK) {
        p->updated |= 1u << b;
    } else {
        p->stats.decode_errors++;
    }
    return rc;
}

/* ---- jobs ---------------------------------------------------------------------------------- */

enum { PHASE_NONE, PHASE_PROBE, PHASE_MAIN, PHASE_READBACK };

static void job_finish(tb_poll_t *p, int rc)
{
    p->job_res.rc = rc;
    p->job_active = false;
    p->job_done = true;
    p->job_phase = PHASE_NONE;
}

static void start_job_main(tb_poll_t *p, uint32_t now)
{
    tb_job_t *j = &p->job;
    int rc = TB_ERR_ARG;
    p->job_phase = PHASE_MAIN;
    switch (j->type) {
    case TB_JOB_READ_BLOCK: {
        const blk_desc_t *d = &k_blocks[j->block];
        rc = prepare(p, d->kind, d->addr, d->count, d->option, NULL, now);
        p->req.block = j->block;
        break;
    }
    case TB_JOB_READ_REGS:
        rc = prepare(p, KIND_READ, j->addr, j->count, 0, NULL, now);
        break;
    case TB_JOB_WRITE:
        rc = prepare(p, KIND_WRITE, j->addr, j->count, 0, j->values, now);
        break;
    case TB_JOB_RESET:
        rc = prepare(p, KIND_RESET, 0, 0, j->option, NULL, now);
        break;
    case TB_JOB_EVENTS:
        rc = prepare(p, KIND_EVENTS, 0, 0, j->option, NULL, now);
        break;
    case TB_JOB_SETTINGS_QUERY:
        rc = prepare(p, KIND_QUERY, BMS_SETTINGS_FIRST, j->count, j->option, NULL, now);
        break;
    case TB_JOB_VERSION:
        rc = prepare(p, KIND_VERSION, 0, 0, 0, NULL, now);
        break;
    case TB_JOB_NONE:
        break;
    }
    if (rc != TB_OK) {
        job_finish(p, rc);
        return;
    }
    p->req.is_job = true;
}

static void start_job(tb_poll_t *p, uint32_t now)
{
    p->job_queued = false;
    p->job_active = true;
    memset(&p->job_res, 0, sizeof p->job_res);
    /* A reset must not be duplicated by the wake-up double send: wake the BMS with a probe. */
    if (p->job.type == TB_JOB_RESET && maybe_asleep(p, now)) {
        p->job_phase = PHASE_PROBE;
        if (prepare(p, KIND_READ, 50, 1, 0, NULL, now) != TB_OK) {
            job_finish(p, TB_ERR_ARG);
            return;
        }
        p->req.is_job = true;
        p->req.is_probe = true;
        return;
    }
    start_job_main(p, now);
}

static bool write_restarts_bms(const tb_job_t *j)
{
    for (unsigned i = 0; i < j->count; i++) {
        const tb_reg_t *r = tb_reg_find((uint16_t)(j->addr + i));
        if (r && (r->flags & TB_REGF_REBOOTS)) {
            return true;
        }
    }
    return false;
}

static bool readback_matches(const tb_job_t *j, const uint16_t *got)
{
    for (unsigned i = 0; i < j->count; i++) {
        if (got[i] == j->values[i]) {
            continue;
        }
        const tb_reg_t *r = tb_reg_find((uint16_t)(j->addr + i));
        if (r && (r->flags & TB_REGF_READBACK_FFFF) && got[i] == 0xFFFFu) {
            continue; /* this register reads 0xFFFF once the value has been accepted */
        }
        return false;
    }
    return true;
}

/* The job's current request was answered successfully with `regs` (for reads). */
static void job_step_ok(tb_poll_t *p, const uint16_t *regs, uint32_t now)
{
    tb_job_t *j = &p->job;
    tb_job_result_t *res = &p->job_res;
    if (p->job_phase == PHASE_PROBE) {
        start_job_main(p, now);
        return;
    }
    switch (j->type) {
    case TB_JOB_READ_BLOCK:
        job_finish(p, apply_block(p, j->block, regs, p->req.first_sent_ms));
        return;
    case TB_JOB_READ_REGS:
        res->count = j->count;
        memcpy(res->regs, regs, j->count * sizeof(uint16_t));
        job_finish(p, TB_OK);
        return;
    case TB_JOB_WRITE:
        if (p->job_phase == PHASE_MAIN) {
            if (write_restarts_bms(j)) {
                res->restarting = true;
                schedule_identity_reads(p, now + RESTART_SETTLE_MS);
                job_finish(p, TB_OK);
                return;
            }
            p->job_phase = PHASE_READBACK;
            if (prepare(p, KIND_READ, j->addr, j->count, 0, NULL, now) == TB_OK) {
                p->req.is_job = true;
            } else {
                job_finish(p, TB_ERR_ARG);
            }
            return;
        }
        res->count = j->count;
        memcpy(res->regs, regs, j->count * sizeof(uint16_t));
        /* refresh the settings block so the snapshot shows what the BMS now holds */
        p->enabled[TB_BLK_SETTINGS] = true;
        p->next_due[TB_BLK_SETTINGS] = now;
        if (readback_matches(j, regs)) {
            job_finish(p, TB_OK);
        } else {
            p->stats.readback_mismatch++;
            job_finish(p, TB_ERR_MISMATCH);
        }
        return;
    case TB_JOB_RESET:
        if (j->option == TB_RESET_BMS) {
            res->restarting = true;
            schedule_identity_reads(p, now + RESTART_SETTLE_MS);
        } else if (j->option == TB_RESET_CLEAR_EVENTS) {
            p->events_seen = false; /* the cleared log is the new baseline */
            p->enabled[TB_BLK_EVENTS] = p->cfg.events_period_ms > 0;
            p->next_due[TB_BLK_EVENTS] = now;
        } else {
            p->enabled[TB_BLK_STATS] = p->cfg.stats_period_ms > 0;
            p->next_due[TB_BLK_STATS] = now;
        }
        job_finish(p, TB_OK);
        return;
    case TB_JOB_SETTINGS_QUERY:
        res->count = j->count;
        memcpy(res->regs, regs, j->count * sizeof(uint16_t));
        job_finish(p, TB_OK);
        return;
    case TB_JOB_EVENTS:
    case TB_JOB_VERSION:
        job_finish(p, TB_OK); /* result already stored by the parser */
        return;
    case TB_JOB_NONE:
        break;
    }
    job_finish(p, TB_ERR_ARG);
}

int tb_poll_submit(tb_poll_t *p, const tb_job_t *job)
{
    if (p->job_queued || p->job_active) {
        return TB_ERR_BUSY;
    }
    switch (job->type) {
    case TB_JOB_READ_BLOCK:
        if ((unsigned)job->block >= TB_BLK_COUNT) {
            return TB_ERR_ARG;
        }
        break;
    case TB_JOB_READ_REGS:
        if (job->count == 0u || job->count > TB_READ_MAX_REGS || (uint32_t)job->addr + job->count > 0x10000u) {
            return TB_ERR_RANGE;
        }
        break;
    case TB_JOB_WRITE:
        if (job->count == 0u || job->count > TB_WRITE_MAX_REGS || job->addr < TB_WRITE_FIRST ||
            (uint32_t)job->addr + job->count - 1u > TB_WRITE_LAST) {
            return TB_ERR_RANGE;
        }
        break;
    case TB_JOB_RESET:
        if (job->option != TB_RESET_CLEAR_EVENTS && job->option != TB_RESET_CLEAR_STATS && job->option != TB_RESET_BMS) {
            return TB_ERR_ARG;
        }
        break;
    case TB_JOB_EVENTS:
        if (job->option != TB_CMD_EVENTS_NEWEST && job->option != TB_CMD_EVENTS_ALL) {
            return TB_ERR_ARG;
        }
        break;
    case TB_JOB_SETTINGS_QUERY:
        if (job->option < TB_SETTINGS_MIN || job->option > TB_SETTINGS_CURRENT || job->count == 0u ||
            job->count > TB_SETTINGS_QUERY_MAX) {
            return TB_ERR_RANGE;
        }
        break;
    case TB_JOB_VERSION:
        break;
    case TB_JOB_NONE:
    default:
        return TB_ERR_ARG;
    }
    p->job = *job;
    p->job_queued = true;
    p->job_done = false;
    return TB_OK;
}

bool tb_poll_job_done(const tb_poll_t *p) { return p->job_done; }
bool tb_poll_job_pending(const tb_poll_t *p) { return p->job_queued || p->job_active; }
const tb_job_result_t *tb_poll_job_result(const tb_poll_t *p) { return &p->job_res; }
void tb_poll_job_clear(tb_poll_t *p) { p->job_done = false; }

/* ---- transaction outcomes ------------------------------------------------------------------ */

static void transaction_failed(tb_poll_t *p, int rc, bool link_ok, uint32_t now)
{
    tb_request_t *r = &p->req;
    if (!link_ok) {
        link_failed(p, now);
    }
    settle_shapes(p, false, !link_ok);
    end_transaction(p, now);
    if (r->is_sync) {
        return;
    }
    if (r->is_job) {
        if (p->job_phase == PHASE_READBACK && rc == TB_ERR_TIMEOUT) {
            /* the write was acknowledged but the read-back failed: report it, never "ok" */
            p->enabled[TB_BLK_SETTINGS] = true;
            p->next_due[TB_BLK_SETTINGS] = now;
        }
        job_finish(p, rc);
        return;
    }
    reschedule(p, r->block, rc, now);
}

static void transaction_ok(tb_poll_t *p, const uint16_t *regs, uint32_t now)
{
    tb_request_t *r = &p->req;
    settle_shapes(p, true, false);
    end_transaction(p, now);
    if (r->is_sync) {
        return; /* the line is in step again; the request that was waiting for it goes next */
    }
    if (r->is_job) {
        /* A job's next phase (write -> read-back, wake probe -> reset) is started here, not by
         * tb_poll_step, so it is not checked against the unsure shapes: it never needs to be,
         * because it always has another shape than the phase that just ended, and that phase
         * was the only one possibly unsure. */
        job_step_ok(p, regs, now);
        return;
    }
    /* The BMS answers with its latest measurement when the request reaches it, so the data is
     * stamped with the time the request was first sent: never younger than it really is. */
    reschedule(p, r->block, apply_block(p, r->block, regs, r->first_sent_ms), now);
}

/* A valid frame that does not answer the outstanding request. While a shape is unsure, or after
 * the outstanding copy's time-out, it is most likely a late reply; otherwise a duplicate (same
 * command as the request just finished) or something nobody asked for. Either way it is dropped. */
static void stray(tb_poll_t *p, const tb_frame_t *f, uint32_t now)
{
    uint32_t window = (uint32_t)p->cfg.reply_timeout_ms * 2u + (uint32_t)p->cfg.wake_timeout_ms;
    if (any_unsure(p) || (p->waiting && p->send_now && p->req.attempt > 0u)) {
        p->stats.late_replies++;
    } else if (f->cmd == p->last_cmd && (uint32_t)(now - p->last_done_ms) <= window) {
        p->stats.duplicates++;
    } else {
        p->stats.unexpected++;
    }
}

static void on_frame(tb_poll_t *p, const tb_frame_t *f, uint32_t now)
{
    /* send_now: the copy last sent has timed out and the next copy is not on the wire yet */
    if (!p->waiting || p->send_now) {
        stray(p, f, now);
        return;
    }
    tb_request_t *r = &p->req;
    uint16_t regs[TB_READ_MAX_REGS];
    int rc;
    switch (r->kind) {
    case KIND_READ:
        rc = tb_parse_read(f, r->count, regs);
        break;
    case KIND_WRITE:
        rc = tb_parse_write(f, r->addr, r->count);
        break;
    case KIND_QUERY:
        rc = tb_parse_settings_values(f, r->count, regs);
        break;
    case KIND_RESET:
        rc = tb_parse_ack(f, TB_CMD_RESET);
        break;
    case KIND_EVENTS:
        rc = tb_parse_events(f, r->cmd, now, &p->job_res.events);
        break;
    case KIND_VERSION:
        rc = tb_parse_version(f, TB_CMD_VERSION_EXT, &p->job_res.version);
        break;
    default:
        rc = TB_ERR_UNEXPECTED;
        break;
    }
    if (rc == TB_ERR_UNEXPECTED || rc == TB_ERR_FORMAT) {
        /* another command, or this command with another size: a late reply to something else */
        stray(p, f, now);
        return;
    }
    link_alive(p, now);
    if (rc == TB_ERR_NACK) {
        tb_nack_t n = {0, 0};
        (void)tb_parse_nack(f, &n);
        p->stats.nacks++;
        p->last_nack = n.err;
        if (r->is_job) {
            p->job_res.nack_err = n.err;
        }
        /* The BMS saw a corrupted request: sending it again is the right answer. */
        if (n.err == TB_NACK_CRC && r->attempt < (uint8_t)p->cfg.max_retries) {
            r->attempt++;
            p->stats.retries++;
            p->send_now = true;
            return;
        }
        transaction_failed(p, TB_ERR_NACK, true, now);
        return;
    }
    if (rc != TB_OK) {
        transaction_failed(p, rc, true, now);
        return;
    }
    transaction_ok(p, regs, now);
}

static void on_timeout(tb_poll_t *p, uint32_t now);

/* The copy last sent has had its reply time-out: whatever arrives from now on is late for it. */
static void expire(tb_poll_t *p, uint32_t now)
{
    if (p->waiting && !p->send_now && due(now, p->req.deadline_ms)) {
        on_timeout(p, now);
    }
}

void tb_poll_rx(tb_poll_t *p, const uint8_t *data, size_t n, uint32_t now_ms)
{
    tb_frame_t f;
    /* bytes that arrive at or after the deadline are late even if tb_poll_step has not run yet */
    expire(p, now_ms);
    while (n > 0u) {
        size_t k = tb_rx_push(&p->rx, data, n, now_ms);
        data += k;
        n -= k;
        while (tb_rx_next(&p->rx, now_ms, &f)) {
            on_frame(p, &f, now_ms);
        }
        if (k == 0u) {
            break; /* cannot happen after draining; never spin */
        }
    }
}

/* ---- scheduling ---------------------------------------------------------------------------- */

/* Due block with the earliest due time; ties go to the lower enum value (live first). */
static int pick_due(const tb_poll_t *p, uint32_t now)
{
    int best = -1;
    for (unsigned b = 0; b < TB_BLK_COUNT; b++) {
        if (!p->enabled[b] || !due(now, p->next_due[b])) {
            continue;
        }
        if (best < 0 || (int32_t)(p->next_due[b] - p->next_due[best]) < 0) {
            best = (int)b;
        }
    }
    return best;
}

static void on_timeout(tb_poll_t *p, uint32_t now)
{
    tb_request_t *r = &p->req;
    uint8_t max = (uint8_t)p->cfg.max_retries;
    if (r->started_asleep && max < 1u) {
        max = 1u; /* the wake-up double send always happens */
    }
    bool may_repeat = r->idempotent;
    if (may_repeat && r->attempt < max) {
        r->attempt++;
        p->stats.retries++;
        p->send_now = true;
        /* A reply still dribbling in from the previous copy must not complete as the answer to
         * the new one: its data would be older than the transaction says. */
        tb_rx_flush(&p->rx);
        return;
    }
    p->stats.timeouts++;
    transaction_failed(p, TB_ERR_TIMEOUT, false, now);
}

int tb_poll_step(tb_poll_t *p, uint32_t now_ms, uint8_t *out, size_t cap)
{
    expire(p, now_ms);
    if (!p->waiting) {
        bool unsure = any_unsure(p);
        if (p->job_queued && !unsure) {
            start_job(p, now_ms);
        } else if (!p->in_backoff || due(now_ms, p->backoff_until)) {
            p->in_backoff = false;
            int b = pick_due(p, now_ms);
            /* a job's first request is not checked shape by shape: any unsure shape syncs first */
            if (p->job_queued || (b >= 0 && shape_unsure(p, k_blocks[b].kind, k_blocks[b].count))) {
                start_sync(p, now_ms);
            } else if (b >= 0) {
                const blk_desc_t *d = &k_blocks[b];
                if (prepare(p, d->kind, d->addr, d->count, d->option, NULL, now_ms) == TB_OK) {
                    p->req.block = (tb_block_t)b;
                }
            }
        }
    }
    if (!p->waiting || !p->send_now) {
        return 0;
    }
    tb_request_t *r = &p->req;
    if (cap < r->len) {
        return TB_ERR_NOSPACE;
    }
    memcpy(out, r->bytes, r->len);
    /* A frame begun before this request went out cannot be its answer. */
    tb_rx_flush(&p->rx);
    p->send_now = false;
    p->stats.requests++;
    r->sent_ms = now_ms;
    if (r->attempt == 0u) {
        r->first_sent_ms = now_ms;
    }
    uint32_t t = (r->started_asleep && r->attempt == 0u) ? (uint32_t)p->cfg.wake_timeout_ms
                                                          : (uint32_t)p->cfg.reply_timeout_ms;
    r->deadline_ms = now_ms + t;
    return (int)r->len;
}

uint32_t tb_poll_wait_ms(const tb_poll_t *p, uint32_t now_ms)
{
    const uint32_t cap = 60000u;
    if (p->waiting) {
        if (p->send_now) {
            return 0;
        }
        int32_t d = (int32_t)(p->req.deadline_ms - now_ms);
        return d <= 0 ? 0u : (uint32_t)d < cap ? (uint32_t)d : cap;
    }
    if (p->job_queued) {
        /* started at once, unless the sync read that must go first waits for the backoff */
        int32_t d = (int32_t)(p->backoff_until - now_ms);
        return !any_unsure(p) || !p->in_backoff || d <= 0 ? 0u : (uint32_t)d < cap ? (uint32_t)d : cap;
    }
    uint32_t best = cap;
    for (unsigned b = 0; b < TB_BLK_COUNT; b++) {
        if (!p->enabled[b]) {
            continue;
        }
        int32_t d = (int32_t)(p->next_due[b] - now_ms);
        uint32_t w = d <= 0 ? 0u : (uint32_t)d;
        if (w < best) {
            best = w;
        }
    }
    if (p->in_backoff) {
        int32_t d = (int32_t)(p->backoff_until - now_ms);
        uint32_t w = d <= 0 ? 0u : (uint32_t)d;
        if (w > best) {
            best = w < cap ? w : cap;
        }
    }
    return best;
}

uint32_t tb_poll_take_updates(tb_poll_t *p)
{
    uint32_t u = p->updated;
    p->updated = 0;
    return u;
}

unsigned tb_poll_take_events(tb_poll_t *p, bms_event_t *out, unsigned cap)
{
    unsigned n = p->new_count < cap ? p->new_count : cap;
    memcpy(out, p->new_events, n * sizeof *out);
    memmove(p->new_events, p->new_events + n, (p->new_count - n) * sizeof *out);
    p->new_count = (uint8_t)(p->new_count - n);
    return n;
}

void tb_poll_stats(const tb_poll_t *p, tb_link_stats_t *out)
{
    *out = p->stats;
    out->rx = p->rx.stats;
}

bool tb_poll_limits_valid(const tb_poll_t *p)
{
    return p->limits.valid;
}
