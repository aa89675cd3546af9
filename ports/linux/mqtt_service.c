#include "ports/linux/mqtt_service.h"

#include <stdlib.h>

/* Not implemented yet (issue "MQTT and Home Assistant"): the daemon runs without MQTT. */
struct mqtt_service {
    int unused;
};

mqtt_service_t *mqtt_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    (void)svc;
    (void)cfg;
    return calloc(1, sizeof(mqtt_service_t));
}

void mqtt_service_stop(mqtt_service_t *s)
{
    free(s);
}
