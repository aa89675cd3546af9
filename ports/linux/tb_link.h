/* tb_link: drive a tb_poll_t over a serial fd until one job completes (for one-shot tools).
 * The daemon runs the same poller inside its own event loop instead. */
#ifndef PORTS_LINUX_TB_LINK_H
#define PORTS_LINUX_TB_LINK_H

#include <stdio.h>

#include "core/tb_poll.h"

typedef struct {
    int fd;
    tb_poll_t *poll;
    FILE *trace; /* if not NULL, every byte sent and received is hex-dumped here */
} tb_link_t;

/* Submit `job` and run until it is done or timeout_ms passes. Returns the job's rc (TB_OK, TB_ERR_*),
 * TB_ERR_TIMEOUT if the job did not finish in time, TB_ERR_IO on a port error (err filled). */
int tb_link_run_job(tb_link_t *l, const tb_job_t *job, int timeout_ms, char *err, size_t errlen);

#endif
