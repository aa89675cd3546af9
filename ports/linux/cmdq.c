#include "ports/linux/cmdq.h"
#include "ports/linux/clock.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/tb_err.h"

int cmdq_init(cmdq_t *q)
{
    memset(q, 0, sizeof *q);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        return TB_ERR_IO;
    }
    pthread_mutex_init(&q->mu, NULL);
    linux_cond_init_monotonic(&q->done);
    return TB_OK;
}

void cmdq_destroy(cmdq_t *q)
{
    if (q->efd >= 0) {
        close(q->efd);
        q->efd = -1;
    }
    pthread_cond_destroy(&q->done);
    pthread_mutex_destroy(&q->mu);
}

int cmdq_fd(const cmdq_t *q)
{
    return q->efd;
}

int cmdq_call(cmdq_t *q, gw_cmd_t *cmd, int timeout_ms)
{
    pthread_mutex_lock(&q->mu);
    if (q->closing) {
        pthread_mutex_unlock(&q->mu);
        return TB_ERR_CANCELLED;
    }
    cmdq_slot_t *s = NULL;
    for (unsigned i = 0; i < CMDQ_SLOTS && !s; i++) {
        if (q->slot[i].state == SLOT_FREE) {
            s = &q->slot[i];
        }
    }
    if (!s) {
        pthread_mutex_unlock(&q->mu);
        return TB_ERR_BUSY;
    }
    s->cmd = *cmd;
    s->state = SLOT_QUEUED;
    s->abandoned = false;
    s->ticket = ++q->next_ticket;
    uint64_t one = 1;
    ssize_t w = write(q->efd, &one, sizeof one);
    (void)w; /* an eventfd counter cannot overflow with CMDQ_SLOTS writers */

    struct timespec deadline = linux_deadline_ms(timeout_ms);
    int rc = TB_OK;
    while (s->state != SLOT_DONE) {
        int e = q->closing ? ETIMEDOUT : pthread_cond_timedwait(&q->done, &q->mu, &deadline);
        if ((e == ETIMEDOUT || q->closing) && s->state != SLOT_DONE) {
            if (s->state == SLOT_QUEUED) {
                s->state = SLOT_FREE; /* never started: withdraw it */
            } else {
                s->abandoned = true;  /* the owner recycles it on completion */
            }
            rc = q->closing ? TB_ERR_CANCELLED : TB_ERR_TIMEOUT;
            break;
        }
    }
    if (rc == TB_OK) {
        *cmd = s->cmd;
        s->state = SLOT_FREE;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

gw_cmd_t *cmdq_take(cmdq_t *q)
{
    uint64_t v;
    ssize_t r = read(q->efd, &v, sizeof v);
    (void)r; /* EAGAIN when already drained */
    pthread_mutex_lock(&q->mu);
    cmdq_slot_t *best = NULL;
    for (unsigned i = 0; i < CMDQ_SLOTS; i++) {
        cmdq_slot_t *s = &q->slot[i];
        if (s->state == SLOT_QUEUED && (!best || s->ticket < best->ticket)) {
            best = s;
        }
    }
    if (best) {
        best->state = SLOT_TAKEN;
    }
    pthread_mutex_unlock(&q->mu);
    return best ? &best->cmd : NULL;
}

void cmdq_complete(cmdq_t *q, gw_cmd_t *cmd)
{
    pthread_mutex_lock(&q->mu);
    cmdq_slot_t *s = (cmdq_slot_t *)(void *)((char *)cmd - offsetof(cmdq_slot_t, cmd));
    if (s->abandoned) {
        s->state = SLOT_FREE;
    } else {
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
}

void cmdq_shutdown(cmdq_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closing = true;
    pthread_cond_broadcast(&q->done);
    pthread_mutex_unlock(&q->mu);
}
