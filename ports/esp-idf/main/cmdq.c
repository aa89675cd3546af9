#include "cmdq.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/tb_err.h"

void cmdq_init(cmdq_t *q, void (*wake)(void *ctx), void *wake_ctx)
{
    memset(q, 0, sizeof *q);
    q->mu = xSemaphoreCreateMutexStatic(&q->mu_buf);
    q->wake = wake;
    q->wake_ctx = wake_ctx;
}

static void slot_free(cmdq_slot_t *s)
{
    free(s->cmd);
    s->cmd = NULL;
    s->state = SLOT_FREE;
}

int cmdq_call(cmdq_t *q, gw_cmd_t *cmd, int timeout_ms)
{
    gw_cmd_t *copy = malloc(sizeof *copy);
    if (!copy) {
        return TB_ERR_BUSY;
    }
    *copy = *cmd;
    xSemaphoreTake(q->mu, portMAX_DELAY);
    if (q->closing) {
        xSemaphoreGive(q->mu);
        free(copy);
        return TB_ERR_CANCELLED;
    }
    cmdq_slot_t *s = NULL;
    for (unsigned i = 0; i < CMDQ_SLOTS && !s; i++) {
        if (q->slot[i].state == SLOT_FREE) {
            s = &q->slot[i];
        }
    }
    if (!s) {
        xSemaphoreGive(q->mu);
        free(copy);
        return TB_ERR_BUSY;
    }
    s->cmd = copy;
    s->state = SLOT_QUEUED;
    s->abandoned = false;
    s->ticket = ++q->next_ticket;
    s->caller = xTaskGetCurrentTaskHandle();
    (void)ulTaskNotifyTake(pdTRUE, 0); /* forget a stale notification */
    xSemaphoreGive(q->mu);
    if (q->wake) {
        q->wake(q->wake_ctx);
    }

    TickType_t start = xTaskGetTickCount(), span = pdMS_TO_TICKS(timeout_ms > 0 ? timeout_ms : 0);
    int rc = TB_OK;
    xSemaphoreTake(q->mu, portMAX_DELAY);
    while (s->state != SLOT_DONE) {
        TickType_t spent = xTaskGetTickCount() - start;
        if (q->closing || spent >= span) {
            if (s->state == SLOT_QUEUED) {
                slot_free(s); /* never started: withdraw it */
            } else {
                s->abandoned = true;  /* the owner recycles it on completion */
            }
            rc = q->closing ? TB_ERR_CANCELLED : TB_ERR_TIMEOUT;
            break;
        }
        xSemaphoreGive(q->mu);
        (void)ulTaskNotifyTake(pdTRUE, span - spent); /* spurious wake-ups loop */
        xSemaphoreTake(q->mu, portMAX_DELAY);
    }
    if (rc == TB_OK) {
        *cmd = *s->cmd;
        slot_free(s);
    }
    xSemaphoreGive(q->mu);
    return rc;
}

gw_cmd_t *cmdq_take(cmdq_t *q)
{
    xSemaphoreTake(q->mu, portMAX_DELAY);
    cmdq_slot_t *best = NULL;
    for (unsigned i = 0; i < CMDQ_SLOTS; i++) {
        cmdq_slot_t *s = &q->slot[i];
        if (s->state == SLOT_QUEUED && (!best || (int32_t)(s->ticket - best->ticket) < 0)) {
            best = s;
        }
    }
    if (best) {
        best->state = SLOT_TAKEN;
    }
    xSemaphoreGive(q->mu);
    return best ? best->cmd : NULL;
}

void cmdq_complete(cmdq_t *q, gw_cmd_t *cmd)
{
    xSemaphoreTake(q->mu, portMAX_DELAY);
    cmdq_slot_t *s = NULL;
    for (unsigned i = 0; i < CMDQ_SLOTS && !s; i++) {
        if (q->slot[i].cmd == cmd) {
            s = &q->slot[i];
        }
    }
    if (!s) {
        /* not ours: cannot happen */
    } else if (s->abandoned) {
        slot_free(s);
    } else {
        s->state = SLOT_DONE;
        xTaskNotifyGive(s->caller);
    }
    xSemaphoreGive(q->mu);
}

void cmdq_shutdown(cmdq_t *q)
{
    xSemaphoreTake(q->mu, portMAX_DELAY);
    q->closing = true;
    for (unsigned i = 0; i < CMDQ_SLOTS; i++) {
        if (q->slot[i].state == SLOT_QUEUED || q->slot[i].state == SLOT_TAKEN) {
            xTaskNotifyGive(q->slot[i].caller);
        }
    }
    xSemaphoreGive(q->mu);
}
