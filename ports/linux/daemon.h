/* daemon: the pieces of tinybms-gateway that other Linux services (HTTP, MQTT) share with the
 * owner loop. */
#ifndef PORTS_LINUX_DAEMON_H
#define PORTS_LINUX_DAEMON_H

#include <stdbool.h>

#include "ports/linux/cmdq.h"
#include "ports/linux/history_store.h"
#include "ports/linux/view_store.h"

/* What a service thread gets: read the published view, send commands to the owner. */
typedef struct {
    view_store_t *views;
    cmdq_t *cmdq;
    history_store_t *history;
    const char *state_dir;   /* persistent files of this gateway (credentials, history) */
    const char *config_path; /* the configuration file (shown by GET /api/system) */
    bool demo;               /* running on the in-process simulator */
} gw_services_t;

#endif
