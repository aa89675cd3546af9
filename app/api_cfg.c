#include "app/api_cfg.h"

#include <stddef.h>

#define S api_web_cfg_t

static const cfg_param_t k_web_params[] = {
    CFG_ROW_BOOL(S, enabled, "web.enabled", 1, CFG_F_RESTART,
                 "Serve the web UI, REST API, WebSocket and /metrics on gateway.http."),
    CFG_ROW_BOOL(S, read_only_open, "web.read_only_open", 1, 0,
                 "Let anyone on the network read the dashboard and the read-only API without logging in; "
                 "every change always needs the admin login. false: reading needs the login too."),
    CFG_ROW_INT(S, session_lifetime_min, "web.session_lifetime_min", "min", 5, 10080, 720, 0,
                "A login is valid this long, then the admin must log in again."),
    CFG_ROW_INT(S, login_max_failures, "web.login_max_failures", "", 1, 100, 5, CFG_F_ADVANCED,
                "Wrong passwords in a row from one client address (IPv6: one /64) before it must wait between "
                "attempts: 1 s, then 2, 4, 8 ... s up to web.login_lockout_s."),
    CFG_ROW_INT(S, login_lockout_s, "web.login_lockout_s", "s", 10, 86400, 300, CFG_F_ADVANCED,
                "Longest wait between two login attempts of an address that kept failing (the backoff's cap)."),
    CFG_ROW_INT(S, login_global_per_min, "web.login_global_per_min", "", 1, 1000, 30, CFG_F_ADVANCED,
                "Login attempts a minute shared by all addresses past their free failures (slows down guessing "
                "from many addresses; an address without failures, such as the admin's, never waits for it)."),
    CFG_ROW_INT(S, max_body_bytes, "web.max_body_bytes", "B", 1024, 65536, 32768, CFG_F_ADVANCED,
                "Largest request body accepted; larger requests get 413 and change nothing."),
    CFG_ROW_INT(S, ws_rate_hz, "web.ws_rate_hz", "Hz", 1, 10, 5, 0,
                "Live updates per second sent to each WebSocket client (a slow client gets fewer, never a backlog)."),
    CFG_ROW_INT(S, ws_max_clients, "web.ws_max_clients", "", 1, 256, 16, CFG_F_RESTART | CFG_F_ADVANCED,
                "Open WebSocket connections (browser tabs) served at once; more are refused."),
    CFG_ROW_INT(S, http_threads, "web.http_threads", "", 2, 64, 6, CFG_F_RESTART | CFG_F_ADVANCED,
                "Threads answering HTTP requests (in addition to one per WebSocket client)."),
    CFG_ROW_INT(S, request_timeout_ms, "web.request_timeout_ms", "ms", 1000, 60000, 10000, CFG_F_RESTART | CFG_F_ADVANCED,
                "Time allowed to receive a request or to send to a client before the connection is dropped."),
    CFG_ROW_INT(S, max_connections, "web.max_connections", "", 8, 4096, 128, CFG_F_RESTART | CFG_F_ADVANCED,
                "Open connections (HTTP and WebSocket, from all addresses) at once; more are refused with 503."),
    CFG_ROW_INT(S, max_conns_per_addr, "web.max_conns_per_addr", "", 1, 4096, 16, CFG_F_RESTART | CFG_F_ADVANCED,
                "Open connections from one client address (IPv6: one /64) at once; more are refused with 503, "
                "so that one client cannot take the web service from the others."),
    CFG_ROW_INT(S, header_timeout_ms, "web.header_timeout_ms", "ms", 500, 60000, 5000, CFG_F_RESTART | CFG_F_ADVANCED,
                "A new connection must send its complete request header within this time, or it is closed "
                "(408) before it reaches the web server."),
};

const cfg_section_t api_web_cfg_section = {"web", k_web_params, sizeof k_web_params / sizeof k_web_params[0],
                                           sizeof(api_web_cfg_t)};
