/* clock: the core's monotonic milliseconds (esp_timer, wraps after 49 days like the Linux port's)
 * and the wall clock (0 until it has been set: SNTP or the user, issue "ESP32 firmware, complete"). */
#ifndef PORTS_ESP_CLOCK_H
#define PORTS_ESP_CLOCK_H
#include <stdint.h>
uint32_t esp_now_ms(void);
/* ms since the epoch, or 0 if the clock was never set (before 2024). */
uint64_t esp_wall_ms(void);
#endif
