/* cmdq: a bounded queue of gw_cmd_t from any thread to the owner thread, with a result.
 *
 * A caller (web or MQTT thread) submits a command and blocks until the owner completes it or a
 * timeout passes. The owner is woken through an eventfd that sits in its poll() set, takes
 * commands without blocking, may complete them later (a BMS write spans several cycles), and
 * never waits for a caller. A caller that gave up leaves its slot to be recycled when the owner
 * completes it, so a slow BMS can never make the owner write into freed memory.
 * Capacity: CMDQ_SLOTS commands in flight; a full queue is refused at once (TB_ERR_BUSY). */
#ifndef PORTS_LINUX_CMDQ_H
#define PORTS_LINUX_CMDQ_H

#include <pthread.h>
#include <stdbool.h>

#include "app/gw_cmd.h"

#define CMDQ_SLOTS 8u

typedef enum { SLOT_FREE, SLOT_QUEUED, SLOT_TAKEN, SLOT_DONE } cmdq_state_t;

typedef struct {
    gw_cmd_t cmd;
    cmdq_state_t state;
    bool abandoned;
    uint64_t ticket;
} cmdq_slot_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    int efd;
    bool closing;
    uint64_t next_ticket;
    cmdq_slot_t slot[CMDQ_SLOTS];
} cmdq_t;

int cmdq_init(cmdq_t *q);
void cmdq_destroy(cmdq_t *q);
/* File descriptor that becomes readable when commands are queued (owner's poll set). */
int cmdq_fd(const cmdq_t *q);

/* Caller side: copy *cmd in, wait up to timeout_ms for completion, copy the result back.
 * Returns TB_OK (result in *cmd), TB_ERR_BUSY (queue full, nothing queued) or TB_ERR_TIMEOUT
 * (the owner did not finish in time; the command may still be carried out). */
int cmdq_call(cmdq_t *q, gw_cmd_t *cmd, int timeout_ms);

/* Owner side: next queued command (marked taken), or NULL. Drains the eventfd, so the owner
 * calls it until it returns NULL each time the fd is readable. */
gw_cmd_t *cmdq_take(cmdq_t *q);
/* Owner side: the command (from cmdq_take) is finished; wakes its caller. */
void cmdq_complete(cmdq_t *q, gw_cmd_t *cmd);
/* Shutdown: every waiting caller returns at once with TB_ERR_CANCELLED and new calls are
 * refused the same way; commands the owner still holds are recycled when it completes them. */
void cmdq_shutdown(cmdq_t *q);

#endif
