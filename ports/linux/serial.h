/* serial: the TinyBMS UART on Linux (termios).
 *
 * Opened O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, made raw (cfmakeraw), 115200 8N1, no flow
 * control, receiver on, modem lines ignored (CLOCAL), VMIN = VTIME = 0, exclusive (TIOCEXCL) so a
 * second program cannot interleave requests on the same BMS. Every syscall is checked; errors
 * name the device and the failing step.
 */
#ifndef PORTS_LINUX_SERIAL_H
#define PORTS_LINUX_SERIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Returns the fd, or -1 with a message such as
 * "cannot open /dev/ttyUSB0: No such file or directory" in err. */
int serial_open(const char *path, char *err, size_t errlen);

/* Write all n bytes (the fd is non-blocking: waits with poll() up to timeout_ms in total).
 * Returns 0, or -1 with errno set (ETIMEDOUT when the port does not drain). */
int serial_write_all(int fd, const uint8_t *buf, size_t n, int timeout_ms);

/* Read what is available (never blocks). Returns bytes read, 0 if nothing, -1 on error
 * (errno set; EIO/ENXIO when the adapter was unplugged). */
ssize_t serial_read(int fd, uint8_t *buf, size_t cap);

#endif
