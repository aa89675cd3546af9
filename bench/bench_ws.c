/* bench_ws: WebSocket fan-out latency of the gateway (make bench, bench/run_bench.py).
 *
 *   bench_ws HOST PORT CLIENTS SECONDS [WARMUP_SECONDS]
 *
 * Opens CLIENTS WebSocket connections to ws://HOST:PORT/ws (default subscription: status and
 * events), then, in one thread with epoll, reads every frame and, for each "status" message,
 * takes the delay from the view's publication to its receipt here: CLOCK_REALTIME when the
 * frame is complete minus the document's "time_ms" (the owner thread's wall clock when it
 * published the view, app/gateway.c publish(); whole milliseconds, so the figure carries up to
 * 1 ms of truncation). It includes the hub's rendering, the per-client writer's wake-up and
 * rate limit (web.ws_rate_hz), the send through loopback TCP and this client's epoll wake-up.
 * Messages of the first WARMUP_SECONDS (default 2) are not counted.
 *
 * Prints one JSON line: clients connected, messages, per-client rate, seq gaps (views a client
 * did not get), p50/p90/p99/max delay in ms. A benchmark: it prints figures and never fails on
 * them; it exits non-zero only when it cannot connect or a connection breaks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define BUF_CAP (256u * 1024u)

typedef struct {
    int fd;
    unsigned char *buf;
    size_t len;
    uint64_t last_seq;
    uint64_t msgs;
    uint64_t gaps;
} client_t;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static int connect_ws(const char *host, const char *port, unsigned char *rest, size_t *rest_len)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     host, port);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    /* the response head, then whatever frames already followed it */
    char head[4096];
    size_t hl = 0;
    for (;;) {
        ssize_t r = read(fd, head + hl, sizeof head - 1u - hl);
        if (r <= 0) {
            close(fd);
            return -1;
        }
        hl += (size_t)r;
        head[hl] = '\0';
        char *end = strstr(head, "\r\n\r\n");
        if (end) {
            if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
                fprintf(stderr, "bench_ws: handshake refused: %.60s\n", head);
                close(fd);
                return -1;
            }
            size_t used = (size_t)(end + 4 - head);
            *rest_len = hl - used;
            memcpy(rest, head + used, *rest_len);
            break;
        }
        if (hl >= sizeof head - 1u) {
            close(fd);
            return -1;
        }
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* A masked control frame back to the server (a pong to its ping). */
static void send_control(int fd, unsigned opcode, const unsigned char *payload, size_t len)
{
    unsigned char f[2 + 4 + 125];
    if (len > 125u) {
        len = 125u;
    }
    f[0] = (unsigned char)(0x80u | opcode);
    f[1] = (unsigned char)(0x80u | len);
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(f + 2, mask, 4);
    for (size_t i = 0; i < len; i++) {
        f[6 + i] = payload[i] ^ mask[i & 3u];
    }
    (void)!write(fd, f, 6 + len);
}

static const char *find_num(const char *s, size_t n, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < n; i++) {
        if (memcmp(s + i, key, kl) == 0) {
            uint64_t v = 0;
            size_t j = i + kl;
            if (j >= n || s[j] < '0' || s[j] > '9') {
                return NULL;
            }
            while (j < n && s[j] >= '0' && s[j] <= '9') {
                v = v * 10u + (uint64_t)(s[j] - '0');
                j++;
            }
            *out = v;
            return s + j;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_ws HOST PORT CLIENTS SECONDS [WARMUP_SECONDS]\n");
        return 2;
    }
    const char *host = argv[1], *port = argv[2];
    int nclients = atoi(argv[3]);
    double seconds = atof(argv[4]);
    double warmup = argc > 5 ? atof(argv[5]) : 2.0;
    if (nclients < 1 || nclients > MAX_CLIENTS || seconds <= 0) {
        fprintf(stderr, "bench_ws: bad arguments\n");
        return 2;
    }
    client_t *cl = calloc((size_t)nclients, sizeof *cl);
    int ep = epoll_create1(0);
    if (!cl || ep < 0) {
        return 1;
    }
    for (int i = 0; i < nclients; i++) {
        cl[i].buf = malloc(BUF_CAP);
        if (!cl[i].buf) {
            return 1;
        }
        cl[i].fd = connect_ws(host, port, cl[i].buf, &cl[i].len);
        if (cl[i].fd < 0) {
            fprintf(stderr, "bench_ws: client %d could not connect\n", i + 1);
            printf("{\"error\":\"client %d of %d could not connect\",\"connected\":%d}\n", i + 1, nclients, i);
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        (void)epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
    }

    size_t cap = 1u << 16, n = 0;
    double *delay = malloc(cap * sizeof *delay);
    double t0 = now_mono(), t_count = t0 + warmup, t_end = t_count + seconds;
    uint64_t counted_msgs = 0, other_msgs = 0;
    int broken = 0;
    struct epoll_event evs[64];
    while (now_mono() < t_end && broken == 0) {
        int ne = epoll_wait(ep, evs, 64, 100);
        if (ne < 0 && errno != EINTR) {
            break;
        }
        for (int k = 0; k < ne; k++) {
            client_t *c = &cl[evs[k].data.u32];
            ssize_t r = read(c->fd, c->buf + c->len, BUF_CAP - c->len);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                    continue;
                }
                broken++;
                continue;
            }
            c->len += (size_t)r;
            double t_wall = now_wall_ms();
            bool counting = now_mono() >= t_count;
            size_t off = 0;
            /* every complete frame in the buffer (server frames are not masked) */
            for (;;) {
                if (c->len - off < 2u) {
                    break;
                }
                const unsigned char *f = c->buf + off;
                unsigned opcode = f[0] & 0x0Fu;
                uint64_t plen = f[1] & 0x7Fu;
                size_t hl = 2;
                if (plen == 126u) {
                    if (c->len - off < 4u) {
                        break;
                    }
                    plen = ((uint64_t)f[2] << 8) | f[3];
                    hl = 4;
                } else if (plen == 127u) {
                    if (c->len - off < 10u) {
                        break;
                    }
                    plen = 0;
                    for (int b = 0; b < 8; b++) {
                        plen = (plen << 8) | f[2 + b];
                    }
                    hl = 10;
                }
                if (f[1] & 0x80u) {
                    hl += 4; /* a masked server frame would be a protocol error; skip its key */
                }
                if (plen > BUF_CAP - hl) {
                    broken++;
                    break;
                }
                if (c->len - off < hl + plen) {
                    break;
                }
                const char *p = (const char *)f + hl;
                if (opcode == 0x9u) {
                    send_control(c->fd, 0xAu, (const unsigned char *)p, (size_t)plen);
                } else if (opcode == 0x8u) {
                    broken++;
                } else if (opcode == 0x1u && plen > 24u && memcmp(p, "{\"type\":\"status\"", 16) == 0) {
                    uint64_t seq = 0, tms = 0;
                    const char *after = find_num(p, (size_t)plen, "\"seq\":", &seq);
                    if (after && find_num(after, (size_t)plen - (size_t)(after - p), "\"time_ms\":", &tms)) {
                        if (counting) {
                            if (n == cap) {
                                cap *= 2u;
                                delay = realloc(delay, cap * sizeof *delay);
                            }
                            delay[n++] = t_wall - (double)tms;
                            counted_msgs++;
                            c->msgs++;
                            if (c->last_seq && seq > c->last_seq + 1u) {
                                c->gaps += seq - c->last_seq - 1u;
                            }
                        }
                        c->last_seq = seq;
                    }
                } else {
                    other_msgs++;
                }
                off += hl + (size_t)plen;
            }
            if (off) {
                memmove(c->buf, c->buf + off, c->len - off);
                c->len -= off;
            }
        }
    }
    double elapsed = now_mono() - t_count;
    uint64_t gaps = 0, min_msgs = UINT64_MAX, max_msgs = 0;
    for (int i = 0; i < nclients; i++) {
        gaps += cl[i].gaps;
        min_msgs = cl[i].msgs < min_msgs ? cl[i].msgs : min_msgs;
        max_msgs = cl[i].msgs > max_msgs ? cl[i].msgs : max_msgs;
        close(cl[i].fd);
        free(cl[i].buf);
    }
    qsort(delay, n, sizeof *delay, cmp_double);
#define PCT(q) (n ? delay[(size_t)((double)(n - 1u) * (q) + 0.5)] : -1.0)
    printf("{\"clients\":%d,\"broken\":%d,\"seconds\":%.1f,\"messages\":%llu,\"other_messages\":%llu,"
           "\"rate_per_client_hz\":%.2f,\"min_msgs_per_client\":%llu,\"max_msgs_per_client\":%llu,"
           "\"seq_gaps\":%llu,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"min_ms\":%.2f}\n",
           nclients, broken, elapsed, (unsigned long long)counted_msgs, (unsigned long long)other_msgs,
           elapsed > 0 ? (double)counted_msgs / nclients / elapsed : 0.0, (unsigned long long)min_msgs,
           (unsigned long long)max_msgs, (unsigned long long)gaps, PCT(0.50), PCT(0.90), PCT(0.99),
           n ? delay[n - 1u] : -1.0, n ? delay[0] : -1.0);
    free(delay);
    free(cl);
    return broken ? 1 : 0;
}
