/* tb_poll: a non-blocking TinyBMS poller with time injected.
 *
 * It owns the receive state machine and the BMS picture: it decides which request to send next
 * (blocks on their own cadences, or a queued job such as a settings write), produces the request
 * bytes for the port to transmit, consumes received bytes, matches replies to the outstanding
 * request, decodes them into the snapshot, and keeps link statistics. It never blocks, sleeps or
 * reads a clock: the caller passes now_ms and asks how long it may wait (tb_poll_wait_ms).
 *
 *   loop:  n = tb_poll_step(p, now, tx, sizeof tx);  if (n > 0) uart_write(tx, n);
 *          wait for UART bytes or tb_poll_wait_ms(p, now);
 *          tb_poll_rx(p, bytes, len, now);
 *
 * Wake-up: the TinyBMS sleeps after ~10 s without UART traffic and then swallows the first
 * request (it only wakes it). When the link may be asleep (nothing heard for sleep_after_ms, or
 * never), the first copy of a request waits only wake_timeout_ms before the same request is sent
 * again (the "double send"); whichever copy the reply answers, the data is stamped with the first
 * copy's send time, and a second reply is dropped as late (see "Late replies"). Requests that
 * must not be repeated (BMS reset) are preceded by a one-register probe read instead, so that the
 * wake-up double send never duplicates them.
 *
 * Late replies: Modbus RTU and the proprietary frames carry no transaction id, so a reply can only
 * be paired with a request by its shape (command and length) and its timing. A reply is accepted
 * only while its transaction is open: before the reply time-out of the copy last sent. A reply
 * that could answer an earlier copy of the same transaction (wake-up double send, resends) is
 * stamped with the first copy's send time, the earliest send it could answer; data is never
 * stamped with the time its reply arrived. Anything later is discarded and counted (late_replies).
 * A transaction that ended with copies unanswered (time-out) or resent leaves its shape "unsure":
 * a reply of that shape may still be on the way. No request of an unsure shape (and no job) is
 * started until the line is in step again: a request of another shape answered in time at its
 * first copy. The BMS answers in order, so that answer proves every earlier request answered or
 * lost, and the unsure shapes are forgotten. When the request due next would have an unsure shape,
 * a "sync" read of registers 0..n-1 goes first (n in 1..16, not unsure; no data is taken from
 * it). Bytes received before a request is sent are never part of its answer. See tb_poll.c
 * ("pairing replies with requests") for why rules based on timing alone do not suffice.
 *
 * Failures: a request without a valid reply after max_retries resends counts one timeout; each
 * failed transaction doubles a backoff (backoff_min_ms..backoff_max_ms) before the next periodic
 * request; link_down_after consecutive failures mark the link down. Any reply restores both.
 *
 * Memory: everything lives in tb_poll_t (about 4.5 KB), allocated by the caller.
 * Thread safety: none — one owner thread calls every function.
 */
#ifndef TB_POLL_H
#define TB_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bms.h"
#include "core/cfg_schema.h"
#include "core/tb_proto.h"
#include "core/tb_regs.h"

typedef enum {
    TB_BLK_LIVE,       /* 0x03 0..55 */
    TB_BLK_SETTINGS,   /* 0x03 300..343 */
    TB_BLK_VERSION,    /* 0x03 500..509, at start and after every BMS restart */
    TB_BLK_STATS,      /* 0x03 100..117 */
    TB_BLK_EVENTS,     /* 0x03 200..297 */
    TB_BLK_LIMITS_MIN, /* 0x1D option 1, at start and after every BMS restart */
    TB_BLK_LIMITS_MAX, /* 0x1D option 2 */
    TB_BLK_LIMITS_DEF, /* 0x1D option 3 */
    TB_BLK_COUNT
} tb_block_t;

/* Link configuration: one schema section ("link", see tb_poll_cfg_section). Periods of 0
 * disable a periodic read. int32_t fields so that the schema can describe them directly. */
typedef struct {
    int32_t live_period_ms;
    int32_t settings_period_ms;
    int32_t stats_period_ms;
    int32_t events_period_ms;
    bool read_device_limits;   /* read min/max/default with 0x1D at start */
    int32_t reply_timeout_ms;
    int32_t wake_timeout_ms;
    int32_t sleep_after_ms;
    int32_t max_retries;
    int32_t backoff_min_ms;
    int32_t backoff_max_ms;
    int32_t link_down_after;
    int32_t rx_gap_ms;
} tb_poll_cfg_t;

extern const cfg_section_t tb_poll_cfg_section;
/* Defaults of the schema (live data at 10 Hz, the BMS's own measurement rate). */
void tb_poll_cfg_defaults(tb_poll_cfg_t *cfg);
/* A configuration for one-shot tools: no periodic reads at all, jobs only. */
void tb_poll_cfg_oneshot(tb_poll_cfg_t *cfg);

#define TB_RTT_BUCKETS 9u
/* Upper bounds (ms) of the round-trip histogram buckets; the last bucket is open-ended. */
extern const uint16_t tb_rtt_bucket_ms[TB_RTT_BUCKETS - 1u];

typedef struct {
    uint32_t requests;          /* request frames sent (resends included) */
    uint32_t replies;           /* replies that answered the outstanding request (incl. NACKs) */
    uint32_t timeouts;          /* transactions that failed after every resend */
    uint32_t retries;           /* resends after a silent attempt */
    uint32_t wakeups;           /* transactions answered only after a wake-up resend */
    uint32_t nacks;             /* AA 00 error replies (and Modbus exceptions) */
    uint32_t unexpected;        /* valid frames that answered nothing outstanding */
    uint32_t duplicates;        /* repeated answers to a request just answered (while in step) */
    uint32_t late_replies;      /* replies discarded: too late for their request (see "Late replies") */
    uint32_t decode_errors;     /* replies whose content failed the plausibility checks */
    uint32_t readback_mismatch; /* settings writes whose read-back differed */
    uint32_t bms_restarts;      /* lifetime counter went backwards */
    uint32_t consecutive_failures;
    bool link_up;
    bool ever_replied;
    uint32_t last_reply_ms;
    uint32_t last_rtt_ms;
    uint32_t rtt_hist[TB_RTT_BUCKETS];
    tb_rx_stats_t rx;           /* framing: CRC errors, garbage, truncated ... */
} tb_link_stats_t;

typedef enum {
    TB_JOB_NONE,
    TB_JOB_READ_BLOCK,   /* block: refresh one snapshot block now */
    TB_JOB_READ_REGS,    /* addr, count (1..127): raw registers into result.regs */
    TB_JOB_WRITE,        /* addr, count (1..100), values: 0x10 then read-back and compare */
    TB_JOB_RESET,        /* option TB_RESET_*: 0x02, expects an ACK */
    TB_JOB_EVENTS,       /* option TB_CMD_EVENTS_NEWEST or TB_CMD_EVENTS_ALL */
    TB_JOB_SETTINGS_QUERY, /* option TB_SETTINGS_*, count: 0x1D values into result.regs */
    TB_JOB_VERSION       /* 0x1F extended version into result.version */
} tb_job_type_t;

typedef struct {
    tb_job_type_t type;
    tb_block_t block;
    uint16_t addr;
    uint8_t count;
    uint8_t option;
    uint16_t values[TB_WRITE_MAX_REGS];
} tb_job_t;

typedef struct {
    int rc;                 /* TB_OK, TB_ERR_TIMEOUT, TB_ERR_NACK, TB_ERR_MISMATCH, TB_ERR_FORMAT ... */
    uint16_t nack_err;      /* when rc == TB_ERR_NACK */
    unsigned count;         /* registers in regs */
    uint16_t regs[TB_READ_MAX_REGS]; /* READ_REGS / SETTINGS_QUERY data, WRITE read-back */
    bms_events_t events;    /* EVENTS */
    tb_version_reply_t version; /* VERSION */
    bool restarting;        /* WRITE of a register that reboots the BMS, or RESET of the BMS */
} tb_job_result_t;

/* Field order in the two structs below (chosen by measuring the rv32imc code): the small, often
 * used fields come first, because an offset above 2047 from the struct pointer costs an extra
 * address computation at every access and offsets below 128 allow the short instruction forms;
 * the big buffers (frame bytes, results, snapshot, event lists, receive state) go last. */
typedef struct {
    uint8_t kind;       /* internal request kind */
    tb_block_t block;
    bool is_job;
    bool is_probe;
    bool idempotent;
    bool started_asleep;
    bool is_sync;       /* a read sent only to bring the line back in step (see "Late replies") */
    uint8_t cmd;        /* command byte of the request */
    uint16_t addr;
    uint8_t count;
    uint8_t option;
    uint8_t attempt;
    uint16_t len;
    /* every field above is reset for each new request; the times below are set when it is sent */
    uint32_t first_sent_ms;
    uint32_t sent_ms;
    uint32_t deadline_ms;
    uint8_t bytes[TB_FRAME_MAX];
} tb_request_t;

typedef struct {
    tb_poll_cfg_t cfg;
    tb_link_stats_t stats;

    bool waiting;
    bool send_now;              /* req is ready to be (re)sent by the next step */
    bool job_queued;
    bool job_active;
    bool job_done;
    uint8_t job_phase;
    bool in_backoff;
    uint8_t last_cmd;           /* command of the last finished request, to spot duplicates */
    uint16_t last_nack;         /* error code of the most recent NACK */
    uint16_t limit_parts;       /* bit per LIMITS_* block received since the last restart */
    bool have_lifetime;
    bool events_seen;
    uint8_t new_count;          /* entries in new_events */
    uint32_t updated;           /* bit per tb_block_t refreshed since tb_poll_take_updates() */
    /* bit per request shape whose reply may still come ("Late replies"): reads by register count
     * (bits 0..127), the other kinds after them (128 + kind) */
    uint32_t unsure[5];

    uint32_t backoff_ms;
    uint32_t backoff_until;
    uint32_t last_done_ms;
    uint32_t last_lifetime_s;

    uint32_t next_due[TB_BLK_COUNT];
    bool enabled[TB_BLK_COUNT];
    uint8_t failures[TB_BLK_COUNT];

    tb_request_t req;
    tb_job_t job;
    tb_job_result_t job_res;
    bms_snapshot_t snap;
    tb_settings_limits_t limits;
    bms_events_t events;
    tb_rx_t rx;

    /* New TinyBMS events seen by periodic event reads (not the history found at start). */
    bms_event_t new_events[BMS_EVENT_SLOTS];
} tb_poll_t;

/* cfg is copied; invalid values are clamped to the schema's ranges. Every enabled block is due
 * at now_ms. */
void tb_poll_init(tb_poll_t *p, const tb_poll_cfg_t *cfg, uint32_t now_ms);

/* Apply a new configuration at run time: periods, timeouts, retries and the receive gap change;
 * the snapshot, statistics and any job in progress are kept. */
void tb_poll_reconfigure(tb_poll_t *p, const tb_poll_cfg_t *cfg, uint32_t now_ms);

/* Advance timers and choose the next request. Writes a request into out and returns its length
 * (> 0) when one must be transmitted now, 0 otherwise, TB_ERR_NOSPACE if cap is too small. */
int tb_poll_step(tb_poll_t *p, uint32_t now_ms, uint8_t *out, size_t cap);

/* Bytes received from the UART (any split). Completes transactions as replies arrive. */
void tb_poll_rx(tb_poll_t *p, const uint8_t *data, size_t n, uint32_t now_ms);

/* Milliseconds until tb_poll_step() has work (0 = call it now). Never more than 60000. */
uint32_t tb_poll_wait_ms(const tb_poll_t *p, uint32_t now_ms);

/* Blocks refreshed (bit 1 << tb_block_t) since the previous call; clears the set. */
uint32_t tb_poll_take_updates(tb_poll_t *p);

/* Queue one job (jobs run before periodic reads, one at a time). TB_ERR_BUSY if a job is queued
 * or running, TB_ERR_ARG / TB_ERR_RANGE for an invalid job (nothing is queued). */
int tb_poll_submit(tb_poll_t *p, const tb_job_t *job);
/* True once the submitted job has finished; its result stays until tb_poll_job_clear(). */
bool tb_poll_job_done(const tb_poll_t *p);
bool tb_poll_job_pending(const tb_poll_t *p);
const tb_job_result_t *tb_poll_job_result(const tb_poll_t *p);
void tb_poll_job_clear(tb_poll_t *p);

/* Pop up to cap new events (oldest first); returns how many were copied. */
unsigned tb_poll_take_events(tb_poll_t *p, bms_event_t *out, unsigned cap);

/* Link statistics with the framing counters folded in. */
void tb_poll_stats(const tb_poll_t *p, tb_link_stats_t *out);

/* True when all three 0x1D limit tables have been read since the last restart. */
bool tb_poll_limits_valid(const tb_poll_t *p);

const char *tb_block_name(tb_block_t b);

#endif
