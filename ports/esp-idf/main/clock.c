#include "clock.h"

#include <sys/time.h>

#include "esp_timer.h"

uint32_t esp_now_ms(void) { return (uint32_t)(esp_timer_get_time() / 1000); }

uint64_t esp_wall_ms(void)
{
    struct timeval tv;
    if (gettimeofday(&tv, NULL) != 0 || tv.tv_sec < 1704067200) { /* 2024-01-01: never set */
        return 0;
    }
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}
