/* cmdq: commands from the web tasks to the owner task, with a result (the twin of
 * ports/linux/cmdq.c, on FreeRTOS primitives; same contract).
 *
 * A caller copies its command into a free slot, wakes the owner through the port's wake callback
 * (main.c posts to the queue the owner task waits on) and sleeps on its task notification until
 * the owner completes the command or the timeout passes. A caller that gave up leaves its slot to
 * be recycled when the owner completes it, so a slow BMS can never make the owner write into a
 * caller's stack. CMDQ_SLOTS commands in flight; a full queue is refused at once (TB_ERR_BUSY). */
#ifndef PORTS_ESP_CMDQ_H
#define PORTS_ESP_CMDQ_H

#include <stdbool.h>
#include <stdint.h>

#include "app/gw_cmd.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#define CMDQ_SLOTS 4u

typedef enum { SLOT_FREE, SLOT_QUEUED, SLOT_TAKEN, SLOT_DONE } cmdq_state_t;

typedef struct {
    gw_cmd_t *cmd;            /* heap copy while the slot is in use (a gw_cmd_t is ~13 kB: no idle cost) */
    cmdq_state_t state;
    bool abandoned;
    uint32_t ticket;
    TaskHandle_t caller;
} cmdq_slot_t;

typedef struct {
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    bool closing;
    uint32_t next_ticket;
    void (*wake)(void *ctx);
    void *wake_ctx;
    cmdq_slot_t slot[CMDQ_SLOTS];
} cmdq_t;

void cmdq_init(cmdq_t *q, void (*wake)(void *ctx), void *wake_ctx);
/* TB_OK (result in *cmd), TB_ERR_BUSY (also: no memory for the copy), TB_ERR_TIMEOUT or
 * TB_ERR_CANCELLED (cmdq_call of ports/linux). */
int cmdq_call(cmdq_t *q, gw_cmd_t *cmd, int timeout_ms);
/* Owner: the oldest queued command (marked taken), or NULL. */
gw_cmd_t *cmdq_take(cmdq_t *q);
/* Owner: finished; wakes its caller. */
void cmdq_complete(cmdq_t *q, gw_cmd_t *cmd);
void cmdq_shutdown(cmdq_t *q);
#endif
