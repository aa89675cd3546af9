/* cfmakeraw() and CRTSCTS are BSD/glibc extensions. */
#define _DEFAULT_SOURCE

#include "ports/linux/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int fail(int fd, char *err, size_t errlen, const char *path, const char *step)
{
    int e = errno;
    snprintf(err, errlen, "%s %s: %s", step, path, strerror(e));
    if (fd >= 0) {
        close(fd);
    }
    errno = e;
    return -1;
}

int serial_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return fail(-1, err, errlen, path, "cannot open");
    }
    if (!isatty(fd)) {
        errno = ENOTTY;
        return fail(fd, err, errlen, path, "not a serial port:");
    }
    if (ioctl(fd, TIOCEXCL) != 0) {
        return fail(fd, err, errlen, path, "cannot get exclusive access to");
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        return fail(fd, err, errlen, path, "cannot read the settings of");
    }
    cfmakeraw(&t);
    t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_iflag &= (tcflag_t)~(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, B115200) != 0 || cfsetospeed(&t, B115200) != 0) {
        return fail(fd, err, errlen, path, "cannot set 115200 bit/s on");
    }
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        return fail(fd, err, errlen, path, "cannot configure");
    }
    if (tcflush(fd, TCIOFLUSH) != 0) {
        return fail(fd, err, errlen, path, "cannot flush");
    }
    return fd;
}

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int serial_write_all(int fd, const uint8_t *buf, size_t n, int timeout_ms)
{
    long long end = ms_now() + timeout_ms;
    while (n > 0) {
        ssize_t k = write(fd, buf, n);
        if (k > 0) {
            buf += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
        long long left = end - ms_now();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

ssize_t serial_read(int fd, uint8_t *buf, size_t cap)
{
    ssize_t k = read(fd, buf, cap);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    return k;
}
