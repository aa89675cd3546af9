#include "ports/linux/services.h"

#include <string.h>

#include "app/log.h"

void services_start(services_t *s, const gw_services_t *svc, const gw_config_t *cfg)
{
    memset(s, 0, sizeof *s);
    s->svc = *svc;
    /* Neither service is a condition of the battery side: one that cannot start is logged (and
     * the web's state reported by services_web_status), and the owner loop runs without it. */
    s->http = http_service_start(&s->svc, cfg);
    s->mqtt = mqtt_service_start(&s->svc, cfg);
    if (!s->mqtt) {
        LOGE("mqtt", "MQTT not started (see above); the battery side (BMS -> limits -> CAN) runs on without it");
    }
}

void services_web_status(const services_t *s, gw_web_status_t *out)
{
    http_service_status(s->http, out);
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
