/* http_service: the HTTP service thread(s) of the daemon. Reads published views and history,
 * sends commands through the queue; never touches the owner's state. */
#ifndef PORTS_LINUX_HTTP_SERVICE_H
#define PORTS_LINUX_HTTP_SERVICE_H

#include "app/config.h"
#include "ports/linux/daemon.h"

typedef struct http_service http_service_t;

/* Start the service with the configuration at start-up. Returns NULL after logging why when it
 * cannot start and that is fatal; a disabled service returns a valid handle that does nothing. */
http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg);
void http_service_stop(http_service_t *s);

#endif
