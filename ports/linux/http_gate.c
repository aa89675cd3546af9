#define _GNU_SOURCE /* accept4 */
#include "ports/linux/http_gate.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/api_ws.h"
#include "app/log.h"
#include "app/netaddr.h"
#include "app/ws_rx.h"
#include "core/tb_err.h"
#include "ports/linux/clock.h"

#define BUF_SIZE 16384u      /* a request header must fit (civetweb's max_request_size); relay buffers */
#define MAX_EVENTS 64
#define LINGER_MS 2000       /* lingering close: how long a client may go on sending after the reply */
#define LINGER_BYTES (64u * 1024u * 1024u) /* what is read and dropped is cheap: time is the real bound */
#define ACCEPT_BATCH 64      /* accepts per wake-up, so that relays and deadlines keep their turn */
#define TICK_MS 1000
#define LOG_EVERY_MS 10000u
#define EMFILE_PAUSE_MS 200u
#define WS_CLIENT_SNDBUF (32 * 1024)   /* as http_ws.c's WS_SNDBUF (Linux doubles both) */
#define WS_UPSTREAM_RCVBUF (8 * 1024)

enum { ST_FREE, ST_PENDING, ST_CONNECTING, ST_RELAY };
enum { SIDE_C = 0, SIDE_U = 1 };
/* A connection whose first request is a WebSocket handshake (GET with "Upgrade: websocket"). */
enum { WS_NO, WS_ASKED, WS_OPEN };
#define ID_LISTEN UINT64_MAX
#define ID_WAKE (UINT64_MAX - 1u)
#define ID_REQ (UINT64_MAX - 2u)
#define NOT_REGISTERED UINT32_MAX

typedef struct {
    char *data;
    size_t off, len; /* bytes [off, len) wait to be written */
} buf_t;

typedef struct {
    int cfd, ufd;              /* client socket; civetweb socket (-1 before CONNECTING) */
    uint8_t state;
    bool c_eof;                /* the client sent its FIN */
    bool u_eof;                /* civetweb closed */
    bool u_shut;               /* the client's FIN was passed on to civetweb */
    bool has_deadline;
    uint32_t deadline;         /* linux_now_ms() */
    bool lingering;            /* reply sent and FIN given: reading what the client still sends */
    bool up_wfail;             /* civetweb stopped taking the request (it answered and closed): what
                                * the client still sends is dropped, what civetweb sent still goes out */
    size_t linger_left;        /* bytes it may still send before the gate closes anyway */
    uint32_t cev, uev;         /* epoll interest registered, NOT_REGISTERED when not in the set */
    size_t scanned;            /* header bytes already searched for the blank line */
    size_t hdr_end;            /* the complete request header is c2u.data[0, hdr_end) */
    buf_t c2u, u2c;
    /* WebSocket: civetweb 1.15 does not pass on the MASK bit of client frames, so the gate checks
     * that rule (RFC 6455 5.1) on the bytes it relays. WS_ASKED: civetweb has not answered the
     * handshake yet, and what the client sends after it waits in c2u (c2u_free = the bytes of
     * the header still to go), so that civetweb reads nothing but the handshake before the gate
     * knows the answer. WS_OPEN: civetweb answered 101; every client byte is scanned before it
     * is relayed. An unmasked frame: ws_fail (see pump_fail). */
    bool ws_fail;
    uint16_t fail_code;        /* ws_fail: the close status sent to the client (1002 or 1009) */
    bool fin_ok;               /* ws_fail: civetweb's stream ended at a frame boundary: a close frame may follow */
    bool fin_queued;           /* ws_fail: the close frame is in u2c */
    size_t c2u_free;
    uint8_t ans_have, ans_crlf; /* civetweb's answer: status line bytes kept, progress through "\r\n\r\n" */
    bool ans_done;
    char ans[12];
    ws_rx_scan_t cscan;        /* the client's frames (MASK bit) */
    ws_rx_scan_t sscan;        /* civetweb's frames: where the next one starts */
    /* under the gate lock (read by civetweb's workers) */
    unsigned char key[16];     /* address group: IPv4 as v4-mapped, IPv6 its /64 */
    char peer[INET6_ADDRSTRLEN];
    int up_port;               /* local port of ufd = civetweb's remote_port; 0 = none */
    size_t u2c_wait;           /* bytes from civetweb in u2c, not yet sent to the client */
    uint8_t ws;                /* WS_NO, WS_ASKED, WS_OPEN (written by the gate under the lock) */
    bool close_req;            /* http_gate_close() asked to end this connection */
} gconn_t;

struct http_gate {
    http_gate_cfg_t cfg;
    int upstream_port;
    int lfd, ep, wake;
    int req;                   /* eventfd: http_gate_close() requests wait (close_req) */
    int port;
    pthread_t thr;
    bool started;
    pthread_mutex_t mu;
    gconn_t *c;                /* cfg.max_conns slots */
    bool any_deadline;
    uint32_t next_deadline;
    bool listen_paused;
    uint32_t listen_resume;
    /* refusals since the last log line */
    uint32_t log_at;
    unsigned log_n;
    char log_peer[INET6_ADDRSTRLEN];
    const char *log_why;
};

static bool due(uint32_t now, uint32_t t)
{
    return (int32_t)(now - t) >= 0;
}

/* ---- listening ------------------------------------------------------------------------------------------ */

/* "ADDR:PORT", "[V6]:PORT" or "PORT" -> a socket address. -1 when it is none of these. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    /* the syntax is app/netaddr's, as gw_config_check() checked it (numeric, port 1..65535) */
    netaddr_t na;
    if (netaddr_parse(spec, strlen(spec), NETADDR_PORT_REQUIRED, &na, NULL) != TB_OK || na.kind == NETADDR_NAME) {
        return -1;
    }
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
    if (na.host_len >= sizeof host) {
        return -1;
    }
    memcpy(host, spec + na.host_off, na.host_len);
    host[na.host_len] = '\0';
    memset(ss, 0, sizeof *ss);
    if (na.kind == NETADDR_IPV4) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
            return -1;
        }
        a4->sin_family = AF_INET;
        a4->sin_port = htons(na.port);
        *len = sizeof *a4;
        return 0;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    char *zone = strchr(host, '%');
    if (zone) {
        *zone++ = '\0';
        if ((a6->sin6_scope_id = if_nametoindex(zone)) == 0) {
            return -1; /* no such interface on this host */
        }
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
        return -1;
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(na.port);
    *len = sizeof *a6;
    return 0;
}

/* The client's address as text and its group key (IPv4 alone, IPv6 by /64). */
static void peer_of(const struct sockaddr_storage *ss, char *peer, size_t cap, unsigned char key[16])
{
    memset(key, 0, 16);
    snprintf(peer, cap, "?");
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
        inet_ntop(AF_INET, &a->sin_addr, peer, (socklen_t)cap);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            memcpy(key, &a->sin6_addr, 16);
            inet_ntop(AF_INET, a->sin6_addr.s6_addr + 12, peer, (socklen_t)cap);
        } else {
            memcpy(key, &a->sin6_addr, 8);
            inet_ntop(AF_INET6, &a->sin6_addr, peer, (socklen_t)cap);
        }
    }
}

/* ---- small helpers ------------------------------------------------------------------------------------- */

static void set_interest(http_gate_t *g, size_t i, int side, uint32_t want)
{
    gconn_t *c = &g->c[i];
    int fd = side == SIDE_C ? c->cfd : c->ufd;
    uint32_t *have = side == SIDE_C ? &c->cev : &c->uev;
    if (fd < 0 || *have == want) {
        return;
    }
    /* A socket without interest leaves the set: epoll reports EPOLLHUP whatever the mask, and a
     * closed peer would wake the loop again and again while its buffer cannot take more. */
    if (want == 0u) {
        (void)epoll_ctl(g->ep, EPOLL_CTL_DEL, fd, NULL);
        *have = NOT_REGISTERED;
        return;
    }
    struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)i * 2u + (uint64_t)side};
    if (epoll_ctl(g->ep, *have == NOT_REGISTERED ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) == 0) {
        *have = want;
    }
}

static void set_deadline(http_gate_t *g, gconn_t *c, uint32_t now, int ms)
{
    c->has_deadline = true;
    c->deadline = now + (uint32_t)ms;
    if (!g->any_deadline || (int32_t)(c->deadline - g->next_deadline) < 0) {
        g->any_deadline = true;
        g->next_deadline = c->deadline;
    }
}

static void count(http_gate_t *g, api_reject_t why)
{
    if (g->cfg.counters) {
        atomic_fetch_add(&g->cfg.counters->rejected[why], 1u);
    }
}

/* A refusal for the log: one line per LOG_EVERY_MS at most, with how many there were. */
static void note_refusal(http_gate_t *g, const char *peer, const char *why)
{
    uint32_t now = linux_now_ms();
    g->log_n++;
    snprintf(g->log_peer, sizeof g->log_peer, "%s", peer);
    g->log_why = why;
    if (g->log_at == 0u || (uint32_t)(now - g->log_at) >= LOG_EVERY_MS) {
        LOGW("web", "%u connection(s) refused or closed in the last %u s, the latest from %s: %s", g->log_n,
             LOG_EVERY_MS / 1000u, g->log_peer, g->log_why);
        g->log_at = now ? now : 1u;
        g->log_n = 0;
    }
}

/* A short JSON error in the API's format, then the end of the connection. Sent without waiting:
 * a client that does not take it gets nothing. */
static void reply(int fd, int status, const char *text, const char *code, const char *reason)
{
    char body[256], msg[640];
    int bl = snprintf(body, sizeof body, "{\"error\":\"%s\",\"reason\":\"%s\"}", code, reason);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n%s",
                     status, text, bl, status == 503 ? "Retry-After: 5\r\n" : "", body);
    if (bl > 0 && n > 0 && (size_t)n < sizeof msg) {
        (void)send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

/* Before a refusal: what the client already sent is read, so that the close is a FIN after the
 * reply rather than a reset that could discard it. */
static void drain(int fd)
{
    char sink[2048];
    for (int k = 0; k < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; k++) {
    }
}

static void refuse_fd(int fd, int status, const char *text, const char *code, const char *reason)
{
    drain(fd);
    reply(fd, status, text, code, reason);
    close(fd);
}

static void close_conn(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    set_interest(g, i, SIDE_C, 0u);
    set_interest(g, i, SIDE_U, 0u);
    /* the slot keeps its two buffers for its next connection: no malloc/free per connection, so
     * connection churn cannot fragment the heap; at most web.max_connections x 2 x 16 KB, touched
     * only up to the most connections open at once (a new connection takes the first free slot) */
    char *keep_c2u = c->c2u.data, *keep_u2c = c->u2c.data;
    pthread_mutex_lock(&g->mu); /* http_gate_backlog() looks at the descriptors under the lock */
    if (c->cfd >= 0) {
        close(c->cfd);
    }
    if (c->ufd >= 0) {
        close(c->ufd);
    }
    memset(c, 0, sizeof *c);
    c->c2u.data = keep_c2u;
    c->u2c.data = keep_u2c;
    c->cfd = c->ufd = -1;
    c->cev = c->uev = NOT_REGISTERED;
    pthread_mutex_unlock(&g->mu);
}

/* Refuse an open connection of the gate with a reply, count it, free it. */
static void refuse_conn(http_gate_t *g, size_t i, api_reject_t why, int status, const char *text, const char *code,
                        const char *reason)
{
    gconn_t *c = &g->c[i];
    if ((int)why >= 0) {
        count(g, why);
    }
    note_refusal(g, c->peer, reason);
    drain(c->cfd);
    reply(c->cfd, status, text, code, reason);
    close_conn(g, i);
}

/* ---- connections ----------------------------------------------------------------------------------------- */

static void on_accept(http_gate_t *g)
{
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(g->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop accepting for a moment instead of spinning on the listener */
                LOGW("web", "cannot accept connections: %s (raise the descriptor limit or lower web.max_connections)",
                     strerror(errno));
                struct epoll_event ev = {.events = 0, .data.u64 = ID_LISTEN};
                (void)epoll_ctl(g->ep, EPOLL_CTL_MOD, g->lfd, &ev);
                g->listen_paused = true;
                g->listen_resume = linux_now_ms() + EMFILE_PAUSE_MS;
            }
            return;
        }
        char peer[INET6_ADDRSTRLEN];
        unsigned char key[16];
        peer_of(&ss, peer, sizeof peer, key);
        int same = 0;
        size_t free_slot = (size_t)-1;
        for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
            if (g->c[i].state == ST_FREE) {
                if (free_slot == (size_t)-1) {
                    free_slot = i;
                }
            } else if (memcmp(g->c[i].key, key, sizeof key) == 0) {
                same++;
            }
        }
        if (free_slot == (size_t)-1) {
            count(g, API_REJ_CONN_TOTAL);
            note_refusal(g, peer, "web.max_connections reached");
            refuse_fd(fd, 503, "Service Unavailable", "busy",
                      "too many connections to the gateway (web.max_connections); try again later");
            continue;
        }
        if (same >= g->cfg.max_per_addr) {
            count(g, API_REJ_CONN_PER_ADDR);
            note_refusal(g, peer, "web.max_conns_per_addr reached");
            refuse_fd(fd, 503, "Service Unavailable", "busy",
                      "too many connections from this address (web.max_conns_per_addr); close some and try again");
            continue;
        }
        char *hdr = g->c[free_slot].c2u.data ? g->c[free_slot].c2u.data : malloc(BUF_SIZE);
        if (!hdr) {
            LOGW("web", "out of memory: connection from %s closed", peer);
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        gconn_t *c = &g->c[free_slot];
        pthread_mutex_lock(&g->mu);
        c->state = ST_PENDING;
        c->cfd = fd;
        memcpy(c->key, key, sizeof key);
        memcpy(c->peer, peer, sizeof peer);
        pthread_mutex_unlock(&g->mu);
        c->c2u.data = hdr;
        set_deadline(g, c, linux_now_ms(), g->cfg.header_timeout_ms);
        set_interest(g, free_slot, SIDE_C, EPOLLIN);
        if (c->cev == NOT_REGISTERED) {
            close_conn(g, free_slot);
        }
    }
}

/* End of the request header: a line feed, an optional carriage return, a line feed. */
static bool header_complete(gconn_t *c)
{
    const char *b = c->c2u.data;
    size_t n = c->c2u.len;
    for (size_t i = c->scanned; i < n; i++) {
        if (b[i] != '\n') {
            continue;
        }
        if (i + 1u < n && b[i + 1u] == '\n') {
            c->hdr_end = i + 2u;
            return true;
        }
        if (i + 2u < n && b[i + 1u] == '\r' && b[i + 2u] == '\n') {
            c->hdr_end = i + 3u;
            return true;
        }
    }
    c->scanned = n >= 2u ? n - 2u : 0u;
    return false;
}

static void pump(http_gate_t *g, size_t i);

/* Case-insensitive search of a lower-case ASCII needle in bytes: the offset just after the first
 * match, or 0 if there is none (a match never ends at offset 0). */
static size_t find_ci(const char *b, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && tolower((unsigned char)b[i + k]) == needle[k]) {
            k++;
        }
        if (k == m) {
            return i + m;
        }
    }
    return 0;
}

static bool has_ci(const char *b, size_t n, const char *needle) { return find_ci(b, n, needle) != 0; }

static void connected(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        LOGW("web", "cannot reach the web server on 127.0.0.1:%d: %s", g->upstream_port, strerror(err ? err : errno));
        refuse_conn(g, i, (api_reject_t)-1, 503, "Service Unavailable", "unavailable", "the web server is not running");
        return;
    }
    c->state = ST_RELAY;
    c->has_deadline = false;
    pump(g, i);
}

/* The header is complete: connect to civetweb and pass the connection on. */
static void go_upstream(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    if (!c->u2c.data) {
        c->u2c.data = malloc(BUF_SIZE);
    }
    int u = c->u2c.data ? socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    if (u < 0) {
        refuse_conn(g, i, (api_reject_t)-1, 503, "Service Unavailable", "no_memory", "out of memory or descriptors");
        return;
    }
    int one = 1;
    (void)setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bool ws = c->hdr_end > 4u && memcmp(c->c2u.data, "GET ", 4) == 0 && has_ci(c->c2u.data, c->hdr_end, "\nupgrade:") &&
              has_ci(c->c2u.data, c->hdr_end, "websocket");
    if (ws) {
        /* Bytes the client sent after the handshake: frames to scan, held until civetweb answers. */
        c->c2u_free = c->hdr_end;
        ws_rx_scan_init(&c->cscan);
        c->cscan.max_data = API_WS_CLIENT_MSG_MAX; /* refused before civetweb allocates the frame */
        ws_rx_scan_init(&c->sscan);
        ws_rx_scan(&c->cscan, (const uint8_t *)c->c2u.data + c->hdr_end, c->c2u.len - c->hdr_end);
        /* A WebSocket: the hub sends the newest update and skips the rest while its socket to the
         * gate holds a backlog (http_ws.c). Small buffers here let that backlog show: a client
         * that stops reading fills its socket, then the gate's buffer, then the gate's receive
         * window, and then civetweb's send queue, which http_ws watches. */
        int snd = WS_CLIENT_SNDBUF, rcv = WS_UPSTREAM_RCVBUF;
        (void)setsockopt(c->cfd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
        (void)setsockopt(u, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g->upstream_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(u, (struct sockaddr *)&a, sizeof a);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if ((rc != 0 && errno != EINPROGRESS) || getsockname(u, (struct sockaddr *)&me, &ml) != 0) {
        LOGW("web", "cannot reach the web server on 127.0.0.1:%d: %s", g->upstream_port, strerror(errno));
        close(u);
        refuse_conn(g, i, (api_reject_t)-1, 503, "Service Unavailable", "unavailable", "the web server is not running");
        return;
    }
    pthread_mutex_lock(&g->mu);
    c->ufd = u;
    c->up_port = ntohs(me.sin_port);
    c->ws = ws ? WS_ASKED : WS_NO;
    c->state = ST_CONNECTING;
    pthread_mutex_unlock(&g->mu);
    set_interest(g, i, SIDE_C, 0u);
    set_deadline(g, c, linux_now_ms(), g->cfg.drain_timeout_ms);
    if (rc == 0) {
        connected(g, i);
        return;
    }
    set_interest(g, i, SIDE_U, EPOLLOUT);
    if (c->uev == NOT_REGISTERED) {
        close_conn(g, i);
    }
}

/* The request declares a body longer than web.max_body_bytes (Content-Length). */
static bool body_too_long(http_gate_t *g, gconn_t *c)
{
    if (!g->cfg.max_body) {
        return false;
    }
    const char *b = c->c2u.data;
    size_t n = c->hdr_end;
    size_t j = find_ci(b, n, "\ncontent-length:");
    if (j == 0) {
        return false;
    }
    while (j < n && (b[j] == ' ' || b[j] == '\t')) {
        j++;
    }
    unsigned long long v = 0;
    bool digits = false;
    while (j < n && b[j] >= '0' && b[j] <= '9' && v < (1ull << 40)) {
        v = v * 10u + (unsigned)(b[j] - '0');
        j++;
        digits = true;
    }
    return digits && v > (unsigned long long)atomic_load(g->cfg.max_body);
}

/* 413 from the gate: the body is never relayed to civetweb. The reply leaves through the relay's
 * path with civetweb's side already ended, so the connection closes as after any early reply: a
 * FIN after it, then what the client still sends is read and dropped (pump, lingering close),
 * never a reset that could destroy the reply before the client reads it. */
static void refuse_long_body(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    count(g, API_REJ_TOO_LARGE);
    c->has_deadline = false;
    char body[160];
    int bl = snprintf(body, sizeof body, "{\"error\":\"too_large\",\"reason\":\"the body is larger than "
                                         "web.max_body_bytes (%d bytes)\"}",
                      atomic_load(g->cfg.max_body));
    int n = snprintf(c->u2c.data, BUF_SIZE,
                     "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
                     bl, body);
    c->u2c.off = 0;
    c->u2c.len = n > 0 && (size_t)n < BUF_SIZE ? (size_t)n : 0u;
    c->c2u.off = c->c2u.len; /* the header and what came of the body: not relayed */
    c->u_eof = true;
    c->up_wfail = true;
    c->state = ST_RELAY;
    pump(g, i);
}

static void on_pending(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    ssize_t n = recv(c->cfd, c->c2u.data + c->c2u.len, BUF_SIZE - c->c2u.len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(g, i); /* the client gave up */
        return;
    }
    if (n < 0) {
        return;
    }
    c->c2u.len += (size_t)n;
    if (header_complete(c)) {
        if (body_too_long(g, c)) {
            refuse_long_body(g, i);
            return;
        }
        go_upstream(g, i);
    } else if (c->c2u.len == BUF_SIZE) {
        refuse_conn(g, i, API_REJ_TOO_LARGE, 431, "Request Header Fields Too Large", "too_large",
                    "the request header is larger than 16 KB");
    }
}

/* Moves what waits in b to the start of its buffer. */
static void compact(buf_t *b)
{
    if (b->off > 0u) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
}

/* Reads at most max bytes into b. 1: went on (or would block), 0: end of stream, -1: error */
static int fill(int fd, buf_t *b, size_t max)
{
    compact(b);
    size_t room = BUF_SIZE - b->len < max ? BUF_SIZE - b->len : max;
    if (room == 0u) {
        return 1;
    }
    ssize_t n = recv(fd, b->data + b->len, room, 0);
    if (n > 0) {
        b->len += (size_t)n;
        return 1;
    }
    if (n == 0) {
        return 0;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : -1;
}

/* Sends at most max bytes of b. 1: sent or would block, -1: error. *moved += the bytes sent. */
static int flush(int fd, buf_t *b, size_t max, size_t *moved)
{
    while (b->off < b->len && max > 0u) {
        size_t want = b->len - b->off < max ? b->len - b->off : max;
        ssize_t n = send(fd, b->data + b->off, want, MSG_NOSIGNAL);
        if (n > 0) {
            b->off += (size_t)n;
            max -= (size_t)n;
            *moved += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return 1;
        } else {
            return -1;
        }
    }
    if (b->off == b->len) {
        b->off = b->len = 0;
    }
    return 1;
}

/* civetweb closed (or failed), or the gate ends its side: nothing more comes from civetweb. */
static void close_upstream(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    c->u_eof = true;
    set_interest(g, i, SIDE_U, 0u);
    pthread_mutex_lock(&g->mu);
    if (c->ufd >= 0) {
        close(c->ufd);
    }
    c->ufd = -1;
    c->up_port = 0;
    pthread_mutex_unlock(&g->mu);
}

/* Bytes of civetweb's stream up to the end of its current frame (0: at a frame boundary). */
static size_t to_boundary(const ws_rx_scan_t *sc)
{
    if (sc->skip) {
        return sc->skip < (uint64_t)SIZE_MAX ? (size_t)sc->skip : SIZE_MAX;
    }
    if (sc->have == 0u) {
        return 0u;
    }
    return sc->have < 2u ? 2u - sc->have : (size_t)(sc->need - sc->have);
}

#define CLOSE_LEN 4u /* a close frame with a status code and no reason: 0x88 0x02 code */

/* ws_fail: the client sent a frame without the MASK bit, or declared a frame longer than the
 * gateway takes. Nothing more of the client's reaches
 * civetweb; what civetweb sent goes on to the client up to the end of the frame in progress
 * (read no further), then the gate closes civetweb's side (the hub's close callback runs), sends
 * the close frame 1002 and closes the connection. Bounded by the deadline set in ws_fail_start. */
static void pump_fail(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    while (!c->u_eof) {
        size_t need = to_boundary(&c->sscan);
        if (need == 0u) {
            c->fin_ok = true;
            close_upstream(g, i);
            break;
        }
        size_t before = c->u2c.len - c->u2c.off;
        compact(&c->u2c);
        size_t max = BUF_SIZE - c->u2c.len > CLOSE_LEN ? BUF_SIZE - c->u2c.len - CLOSE_LEN : 0u;
        if (max == 0u) {
            break; /* the client takes some first */
        }
        int r = fill(c->ufd, &c->u2c, need < max ? need : max);
        size_t got = c->u2c.len - c->u2c.off - before;
        if (r <= 0) {
            close_upstream(g, i); /* civetweb ended inside a frame: no close frame can follow */
            break;
        }
        if (got == 0u) {
            break; /* would block */
        }
        ws_rx_scan(&c->sscan, (const uint8_t *)c->u2c.data + c->u2c.len - got, got);
    }
    if (c->u_eof && c->fin_ok && !c->fin_queued) {
        compact(&c->u2c);
        if (BUF_SIZE - c->u2c.len >= CLOSE_LEN) {
            const char close[CLOSE_LEN] = {(char)0x88, 0x02, (char)(c->fail_code >> 8), (char)(c->fail_code & 0xFFu)};
            memcpy(c->u2c.data + c->u2c.len, close, CLOSE_LEN);
            c->u2c.len += CLOSE_LEN;
            c->fin_queued = true;
        }
    }
    size_t sent = 0;
    if (c->u2c.off < c->u2c.len && flush(c->cfd, &c->u2c, SIZE_MAX, &sent) < 0) {
        close_conn(g, i);
        return;
    }
    bool backlog = c->u2c.off < c->u2c.len;
    if (c->u_eof && !backlog && (c->fin_queued || !c->fin_ok)) {
        /* all sent: a FIN after the close frame, rather than a reset that could discard it */
        (void)shutdown(c->cfd, SHUT_WR);
        drain(c->cfd);
        close_conn(g, i);
        return;
    }
    pthread_mutex_lock(&g->mu);
    c->u2c_wait = c->u2c.len - c->u2c.off;
    pthread_mutex_unlock(&g->mu);
    uint32_t cev = backlog || (c->fin_ok && !c->fin_queued) ? EPOLLOUT : 0u;
    uint32_t uev = c->u_eof ? 0u : EPOLLIN;
    set_interest(g, i, SIDE_C, cev);
    set_interest(g, i, SIDE_U, uev);
    if ((cev && c->cev == NOT_REGISTERED) || (uev && c->uev == NOT_REGISTERED) || (!cev && !uev)) {
        close_conn(g, i);
    }
}

/* What the client's frame headers break, as the close status to send (0: nothing). */
static uint16_t scan_fault(const ws_rx_scan_t *sc)
{
    if (sc->unmasked || sc->control_too_long) {
        return WS_CLOSE_PROTOCOL;
    }
    return sc->too_big ? WS_CLOSE_TOO_BIG : 0u;
}

/* A frame without the MASK bit from a WebSocket client (RFC 6455 5.1: the server must close the
 * connection), a control frame over 125 bytes, or a data frame declared over
 * API_WS_CLIENT_MSG_MAX: counted and logged as the hub counts its own protocol errors, then
 * pump_fail. Checked on the header, before civetweb reads (and allocates) the payload. */
static void ws_fail_start(http_gate_t *g, size_t i, uint16_t code)
{
    gconn_t *c = &g->c[i];
    bool big = code == WS_CLOSE_TOO_BIG;
    if (g->cfg.counters) {
        atomic_fetch_add(&g->cfg.counters->ws_failed[big ? WS_RX_ERR_TOO_BIG : WS_RX_ERR_PROTOCOL], 1u);
    }
    note_refusal(g, c->peer,
                 big ? "a WebSocket frame declared over 512 bytes, closed with 1009"
                     : c->cscan.unmasked ? "a WebSocket frame without the MASK bit (RFC 6455 5.1), closed with 1002"
                                         : "a WebSocket control frame over 125 bytes, closed with 1002");
    c->fail_code = code;
    c->ws_fail = true;
    c->fin_ok = c->u_eof && to_boundary(&c->sscan) == 0u;
    c->c2u.off = c->c2u.len = 0; /* what the client sent stays here */
    set_interest(g, i, SIDE_C, 0u);
    set_deadline(g, c, linux_now_ms(), g->cfg.drain_timeout_ms);
    pump_fail(g, i);
}

/* got new bytes from civetweb at the end of u2c, on a WebSocket handshake's connection: find
 * the end of the answer header and whether it is 101, then follow civetweb's frames. false if
 * the connection failed (ws_fail). */
static bool on_answer(http_gate_t *g, size_t i, size_t got)
{
    gconn_t *c = &g->c[i];
    const char *p = c->u2c.data + c->u2c.len - got;
    size_t k = 0;
    if (!c->ans_done) {
        static const char END[4] = {'\r', '\n', '\r', '\n'};
        while (k < got && !c->ans_done) {
            char ch = p[k++];
            if (c->ans_have < sizeof c->ans) {
                c->ans[c->ans_have++] = ch;
            }
            c->ans_crlf = ch == END[c->ans_crlf] ? (uint8_t)(c->ans_crlf + 1u) : ch == '\r' ? 1u : 0u;
            c->ans_done = c->ans_crlf == sizeof END;
        }
        if (!c->ans_done) {
            return true;
        }
        bool up = c->ans_have == sizeof c->ans && memcmp(c->ans, "HTTP/1.1 101", sizeof c->ans) == 0;
        pthread_mutex_lock(&g->mu);
        c->ws = up ? WS_OPEN : WS_NO;
        pthread_mutex_unlock(&g->mu);
        if (!up) {
            return true; /* refused (or another answer): the bytes held go on, unscanned */
        }
    }
    ws_rx_scan(&c->sscan, (const uint8_t *)p + k, got - k);
    if (scan_fault(&c->cscan)) {
        ws_fail_start(g, i, scan_fault(&c->cscan)); /* sent before the answer, held until now */
        return false;
    }
    return true;
}

/* Move what can move both ways, then wait for what is missing. */
static void pump(http_gate_t *g, size_t i)
{
    gconn_t *c = &g->c[i];
    if (c->ws_fail) {
        pump_fail(g, i);
        return;
    }
    size_t moved = 0, to_client = 0;
    if (!c->c_eof && !c->u_eof) {
        size_t before = c->c2u.len - c->c2u.off;
        int r = fill(c->cfd, &c->c2u, SIZE_MAX);
        if (r < 0) {
            close_conn(g, i);
            return;
        }
        c->c_eof = r == 0;
        size_t got = c->c2u.len - c->c2u.off - before;
        if (got && c->ws != WS_NO) {
            /* scanned before anything of it reaches civetweb */
            ws_rx_scan(&c->cscan, (const uint8_t *)c->c2u.data + c->c2u.len - got, got);
            if (c->ws == WS_OPEN && scan_fault(&c->cscan)) {
                ws_fail_start(g, i, scan_fault(&c->cscan));
                return;
            }
        }
    }
    size_t may = c->ws == WS_ASKED ? c->c2u_free : SIZE_MAX;
    if (c->up_wfail) {
        c->c2u.off = c->c2u.len; /* nobody takes it any more */
    }
    if (!c->u_eof && c->c2u.off < c->c2u.len && may > 0u && flush(c->ufd, &c->c2u, may, &moved) < 0) {
        /* civetweb closed its reading side, typically after a reply sent before the request's
         * end (413 to an oversized body): that reply may still be waiting to be read, so the
         * connection goes on without the client's remaining bytes rather than being cut */
        c->up_wfail = true;
        c->c2u.off = c->c2u.len;
    }
    if (c->ws == WS_ASKED) {
        c->c2u_free -= moved;
    }
    if (c->c_eof && !c->u_shut && !c->u_eof && c->c2u.off == c->c2u.len) {
        (void)shutdown(c->ufd, SHUT_WR);
        c->u_shut = true;
    }
    if (!c->u_eof) {
        size_t before = c->u2c.len - c->u2c.off;
        int r = fill(c->ufd, &c->u2c, SIZE_MAX);
        size_t got = c->u2c.len - c->u2c.off - before;
        if (r > 0 && got && c->ws != WS_NO && !on_answer(g, i, got)) {
            return;
        }
        if (r <= 0) {
            /* civetweb closed (or failed): nothing more comes, what it sent still goes out */
            close_upstream(g, i);
        }
    }
    if (c->u2c.off < c->u2c.len && flush(c->cfd, &c->u2c, SIZE_MAX, &to_client) < 0) {
        close_conn(g, i);
        return;
    }
    bool backlog = c->u2c.off < c->u2c.len;
    pthread_mutex_lock(&g->mu);
    c->u2c_wait = c->u2c.len - c->u2c.off;
    pthread_mutex_unlock(&g->mu);
    if (c->u_eof && !backlog) {
        if (c->c_eof) {
            close_conn(g, i);
            return;
        }
        /* Lingering close: civetweb answered before the request ended (413 to an oversized body)
         * and closed. Closing now with the client's bytes still arriving would reset the
         * connection, and a reset may destroy the reply before the client reads it. So: FIN after
         * the reply, then what the client still sends is read and dropped until its FIN, for at
         * most LINGER_MS and LINGER_BYTES. */
        if (!c->lingering) {
            (void)shutdown(c->cfd, SHUT_WR);
            c->lingering = true;
            c->linger_left = LINGER_BYTES;
            set_deadline(g, c, linux_now_ms(), LINGER_MS);
        }
        char sink[4096];
        ssize_t r;
        while ((r = recv(c->cfd, sink, sizeof sink, MSG_DONTWAIT)) > 0) {
            if ((size_t)r >= c->linger_left) {
                close_conn(g, i);
                return;
            }
            c->linger_left -= (size_t)r;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            close_conn(g, i);
            return;
        }
        set_interest(g, i, SIDE_U, 0u);
        set_interest(g, i, SIDE_C, EPOLLIN);
        if (c->cev == NOT_REGISTERED) {
            close_conn(g, i);
        }
        return;
    }
    /* a client that takes nothing of what waits for it for web.request_timeout_ms is closed */
    if (!backlog) {
        c->has_deadline = false;
    } else if (to_client || !c->has_deadline) {
        set_deadline(g, c, linux_now_ms(), g->cfg.drain_timeout_ms);
    }
    /* bytes for civetweb that may go now (not those held while a handshake waits for its answer) */
    bool c2u_due = c->c2u.off < c->c2u.len && (c->ws != WS_ASKED || c->c2u_free > 0u);
    uint32_t cev = (!c->c_eof && !c->u_eof && c->c2u.len < BUF_SIZE ? EPOLLIN : 0u) | (backlog ? EPOLLOUT : 0u);
    uint32_t uev = c->u_eof ? 0u : (c->u2c.len < BUF_SIZE ? EPOLLIN : 0u) | (c2u_due ? EPOLLOUT : 0u);
    set_interest(g, i, SIDE_C, cev);
    set_interest(g, i, SIDE_U, uev);
    if ((cev && c->cev == NOT_REGISTERED) || (uev && c->uev == NOT_REGISTERED)) {
        close_conn(g, i);
    }
}

static void on_event(http_gate_t *g, size_t i, int side)
{
    gconn_t *c = &g->c[i];
    switch (c->state) {
    /* Errors are left to the next recv/send to report: an event may be stale (its slot was
     * closed and taken by a new connection earlier in the same batch). */
    case ST_PENDING:
        if (side == SIDE_C) {
            on_pending(g, i);
        }
        break;
    case ST_CONNECTING:
        if (side == SIDE_U) {
            connected(g, i);
        }
        break;
    case ST_RELAY:
        pump(g, i);
        break;
    default:
        break;
    }
}

static void expire(http_gate_t *g, uint32_t now)
{
    g->any_deadline = false;
    for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
        gconn_t *c = &g->c[i];
        if (c->state == ST_FREE || !c->has_deadline) {
            continue;
        }
        if (!due(now, c->deadline)) {
            if (!g->any_deadline || (int32_t)(c->deadline - g->next_deadline) < 0) {
                g->any_deadline = true;
                g->next_deadline = c->deadline;
            }
            continue;
        }
        if (c->state == ST_PENDING) {
            refuse_conn(g, i, API_REJ_HEADER_TIMEOUT, 408, "Request Timeout", "header_timeout",
                        "no complete request header within web.header_timeout_ms");
        } else if (c->state == ST_CONNECTING) {
            refuse_conn(g, i, (api_reject_t)-1, 503, "Service Unavailable", "unavailable",
                        "the web server did not take the connection");
        } else if (c->lingering) {
            close_conn(g, i); /* the client went on sending after the reply: enough */
        } else {
            note_refusal(g, c->peer, "it took nothing of what was sent to it for web.request_timeout_ms");
            close_conn(g, i);
        }
    }
}

/* http_gate_close() requests, in the gate's thread (which owns the descriptors). */
static void on_requests(http_gate_t *g)
{
    uint64_t n;
    (void)!read(g->req, &n, sizeof n);
    for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
        gconn_t *c = &g->c[i];
        pthread_mutex_lock(&g->mu);
        bool asked = c->close_req;
        pthread_mutex_unlock(&g->mu);
        if (asked && c->state != ST_FREE) {
            close_conn(g, i);
        }
    }
}

static void *gate_main(void *p)
{
    http_gate_t *g = p;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint32_t now = linux_now_ms();
        int timeout = TICK_MS;
        if (g->any_deadline) {
            int32_t left = (int32_t)(g->next_deadline - now);
            timeout = left <= 0 ? 0 : left < TICK_MS ? (int)left : TICK_MS;
        }
        if (g->listen_paused) {
            int32_t left = (int32_t)(g->listen_resume - now);
            timeout = left <= 0 ? 0 : left < timeout ? (int)left : timeout;
        }
        int n = epoll_wait(g->ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            LOGE("web", "the connection gate stopped: epoll_wait: %s", strerror(errno));
            return NULL;
        }
        for (int k = 0; k < n; k++) {
            uint64_t id = evs[k].data.u64;
            if (id == ID_WAKE) {
                return NULL;
            }
            if (id == ID_LISTEN) {
                on_accept(g);
                continue;
            }
            if (id == ID_REQ) {
                on_requests(g);
                continue;
            }
            on_event(g, (size_t)(id / 2u), (int)(id % 2u));
        }
        now = linux_now_ms();
        if (g->listen_paused && due(now, g->listen_resume)) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ID_LISTEN};
            (void)epoll_ctl(g->ep, EPOLL_CTL_MOD, g->lfd, &ev);
            g->listen_paused = false;
        }
        if (g->any_deadline && due(now, g->next_deadline)) {
            expire(g, now);
        }
    }
}

/* ---- life cycle ------------------------------------------------------------------------------------------ */

static void gate_free(http_gate_t *g)
{
    if (g->c) {
        for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
            if (g->c[i].state != ST_FREE) {
                close_conn(g, i);
            }
            free(g->c[i].c2u.data);
            free(g->c[i].u2c.data);
        }
    }
    if (g->lfd >= 0) {
        close(g->lfd);
    }
    if (g->ep >= 0) {
        close(g->ep);
    }
    if (g->wake >= 0) {
        close(g->wake);
    }
    if (g->req >= 0) {
        close(g->req);
    }
    pthread_mutex_destroy(&g->mu);
    free(g->c);
    free(g);
}

http_gate_t *http_gate_open(const http_gate_cfg_t *cfg, char *why, size_t cap)
{
    if (cap) {
        why[0] = '\0';
    }
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (!cfg->listen || parse_listen(cfg->listen, &ss, &sl) != 0) {
        snprintf(why, cap, "gateway.http \"%s\" is not ADDR:PORT or [IPV6]:PORT (a numeric address, port 1..65535, an "
                 "IPv6 zone naming an interface of this host)",
                 cfg->listen ? cfg->listen : "");
        return NULL;
    }
    http_gate_t *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    if (g->cfg.max_per_addr > g->cfg.max_conns) {
        g->cfg.max_per_addr = g->cfg.max_conns;
    }
    g->lfd = g->ep = g->wake = g->req = -1;
    pthread_mutex_init(&g->mu, NULL);
    g->c = calloc((size_t)g->cfg.max_conns, sizeof *g->c);
    if (!g->c) {
        snprintf(why, cap, "out of memory");
        gate_free(g);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
        g->c[i].cfd = g->c[i].ufd = -1;
        g->c[i].cev = g->c[i].uev = NOT_REGISTERED;
    }
    g->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (g->lfd >= 0) {
        (void)setsockopt(g->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (g->lfd < 0 || bind(g->lfd, (struct sockaddr *)&ss, sl) != 0 || listen(g->lfd, SOMAXCONN) != 0) {
        snprintf(why, cap, "cannot bind to %s: %s", cfg->listen, strerror(errno));
        gate_free(g);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(g->lfd, (struct sockaddr *)&bound, &bl) == 0) {
        g->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                   : ((struct sockaddr_in6 *)&bound)->sin6_port);
    }
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    g->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g->req = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event el = {.events = EPOLLIN, .data.u64 = ID_LISTEN};
    struct epoll_event ew = {.events = EPOLLIN, .data.u64 = ID_WAKE};
    struct epoll_event er = {.events = EPOLLIN, .data.u64 = ID_REQ};
    if (g->ep < 0 || g->wake < 0 || g->req < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, g->lfd, &el) != 0 ||
        epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake, &ew) != 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, g->req, &er) != 0) {
        snprintf(why, cap, "cannot start the connection gate: %s", strerror(errno));
        gate_free(g);
        return NULL;
    }
    return g;
}

int http_gate_run(http_gate_t *g, int upstream_port)
{
    g->upstream_port = upstream_port;
    int rc = pthread_create(&g->thr, NULL, gate_main, g);
    if (rc != 0) {
        LOGE("web", "cannot start the connection gate: %s", strerror(rc));
        return -1;
    }
    g->started = true;
    return 0;
}

void http_gate_stop(http_gate_t *g)
{
    if (!g) {
        return;
    }
    if (g->started) {
        uint64_t one = 1;
        (void)!write(g->wake, &one, sizeof one);
        pthread_join(g->thr, NULL);
    }
    gate_free(g);
}

int http_gate_port(const http_gate_t *g)
{
    return g ? g->port : 0;
}

bool http_gate_peer(http_gate_t *g, const char *seen_addr, int seen_port, char *out, size_t cap)
{
    bool found = false;
    if (cap) {
        out[0] = '\0';
    }
    if (!g || !seen_addr || strcmp(seen_addr, "127.0.0.1") != 0 || seen_port <= 0) {
        return false; /* the gate connects from 127.0.0.1 only */
    }
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < (size_t)g->cfg.max_conns && !found; i++) {
        if (g->c[i].up_port == seen_port) {
            snprintf(out, cap, "%s", g->c[i].peer);
            found = true;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return found;
}

size_t http_gate_backlog(http_gate_t *g, int upstream_port)
{
    size_t n = 0;
    if (!g || upstream_port <= 0) {
        return 0;
    }
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
        gconn_t *c = &g->c[i];
        if (c->up_port == upstream_port) {
            int q = 0;
            n = c->u2c_wait;
            if (c->cfd >= 0 && ioctl(c->cfd, SIOCOUTQ, &q) == 0 && q > 0) {
                n += (size_t)q;
            }
            if (c->ufd >= 0 && ioctl(c->ufd, SIOCINQ, &q) == 0 && q > 0) {
                n += (size_t)q;
            }
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

bool http_gate_ws_handshake(http_gate_t *g, int upstream_port)
{
    bool yes = false;
    if (!g || upstream_port <= 0) {
        return false;
    }
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < (size_t)g->cfg.max_conns; i++) {
        if (g->c[i].up_port == upstream_port) {
            yes = g->c[i].ws == WS_ASKED;
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return yes;
}

void http_gate_close(http_gate_t *g, int upstream_port)
{
    bool found = false;
    if (!g || upstream_port <= 0) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < (size_t)g->cfg.max_conns && !found; i++) {
        if (g->c[i].up_port == upstream_port) {
            g->c[i].close_req = true;
            found = true;
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (found) {
        uint64_t one = 1;
        (void)!write(g->req, &one, sizeof one);
    }
}
