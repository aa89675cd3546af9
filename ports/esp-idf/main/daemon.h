/* daemon: what the firmware's service tasks (HTTP, WebSocket) share with the owner task (the twin
 * of ports/linux/daemon.h). */
#ifndef PORTS_ESP_DAEMON_H
#define PORTS_ESP_DAEMON_H

#include <stdbool.h>

#include "cmdq.h"
#include "history_store.h"
#include "view_store.h"

typedef struct {
    view_store_t *views;
    cmdq_t *cmdq;
    history_store_t *history;
} gw_services_t;

#endif
