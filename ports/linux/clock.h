/* Monotonic milliseconds for the core's now_ms (wraps after 49 days; the core compares with
 * signed differences), and the monotonic deadlines the port's condition variables wait on. */
#ifndef PORTS_LINUX_CLOCK_H
#define PORTS_LINUX_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

uint32_t linux_now_ms(void);

/* CLOCK_MONOTONIC now + ms (ms < 0 counts as 0): the absolute time pthread_cond_timedwait()
 * takes for a condition variable made with linux_cond_init_monotonic(). */
struct timespec linux_deadline_ms(int ms);

/* A condition variable timed on CLOCK_MONOTONIC, so that wall-clock steps (NTP, the user
 * setting the date) neither shorten nor stretch its waits. Returns pthread_cond_init's result. */
int linux_cond_init_monotonic(pthread_cond_t *c);

#endif
