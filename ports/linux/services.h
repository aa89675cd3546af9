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

/* 0 on success; -1 after logging why (e.g. the HTTP port is in use). */
int services_start(services_t *s, const gw_services_t *svc, const gw_config_t *cfg);
void services_stop(services_t *s);

#endif
