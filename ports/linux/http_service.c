#include "ports/linux/http_service.h"

#include <stdlib.h>

/* Not implemented yet (issue "Web UI and API"): the daemon runs without HTTP. */
struct http_service {
    int unused;
};

http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg)
{
    (void)svc;
    (void)cfg;
    return calloc(1, sizeof(http_service_t));
}

void http_service_stop(http_service_t *s)
{
    free(s);
}
