/* services: the threads that serve the outside world from published views and the command
 * queue — HTTP/WebSocket (web UI, REST, metrics) and MQTT. Started after the owner is ready,
 * stopped before it shuts down. */
#ifndef PORTS_LINUX_SERVICES_H
#define PORTS_LINUX_SERVICES_H

#include "app/config.h"
#include "ports/linux/daemon.h"
#include "ports/linux/http_service.h"
#include "ports/linux/mqtt_service.h"

typedef struct {
    gw_services_t svc;
    http_service_t *http;
    mqtt_service_t *mqtt;
} services_t;

/* Starts both services. Never fails: the battery side must not depend on them. A service that
 * cannot start is logged; the web one keeps retrying its address (http_service.h) and reports its
 * state through services_web_status(). */
void services_start(services_t *s, const gw_services_t *svc, const gw_config_t *cfg);
/* The web service's state for the owner's view (gw_ports_t.web_status); owner thread. */
void services_web_status(const services_t *s, gw_web_status_t *out);
void services_stop(services_t *s);

#endif
