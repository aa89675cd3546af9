/* Monotonic milliseconds for the core's now_ms (wraps after 49 days; the core compares with
 * signed differences). */
#ifndef PORTS_LINUX_CLOCK_H
#define PORTS_LINUX_CLOCK_H

#include <stdint.h>

uint32_t linux_now_ms(void);

#endif
