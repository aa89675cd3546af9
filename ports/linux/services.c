#include "ports/linux/services.h"

#include <string.h>

int services_start(services_t *s, const gw_services_t *svc, const gw_config_t *cfg)
{
    memset(s, 0, sizeof *s);
    s->svc = *svc;
    s->http = http_service_start(&s->svc, cfg);
    if (!s->http) {
        return -1;
    }
    s->mqtt = mqtt_service_start(&s->svc, cfg);
    if (!s->mqtt) {
        http_service_stop(s->http);
        s->http = NULL;
        return -1;
    }
    return 0;
}

void services_stop(services_t *s)
{
    if (s->mqtt) {
        mqtt_service_stop(s->mqtt);
        s->mqtt = NULL;
    }
    if (s->http) {
        http_service_stop(s->http);
        s->http = NULL;
    }
}
