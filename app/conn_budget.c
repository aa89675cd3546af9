#include "app/conn_budget.h"

/* conn_budget_why() names the rate in words */
_Static_assert(CONN_RATE_MIN == 4096u, "the log texts below say 4 kB/s: change them with CONN_RATE_MIN");

void conn_budget_enter(conn_budget_t *c, cb_phase_t ph, uint32_t budget_ms, uint32_t now)
{
    c->start = ph == CB_HEADER && c->seen ? c->seen : now;
    c->phase = (uint8_t)ph;
    c->budget_ms = budget_ms;
    c->moved = 0;
    c->seen = 0;
}

void conn_budget_seen(conn_budget_t *c, uint32_t at)
{
    if (c->phase == CB_IDLE && !c->seen) {
        c->seen = at ? at : 1u;
    }
}

void conn_budget_moved(conn_budget_t *c, size_t n)
{
    c->moved = n >= (size_t)(UINT32_MAX - c->moved) ? UINT32_MAX : c->moved + (uint32_t)n;
}

uint32_t conn_budget_left(const conn_budget_t *c, uint32_t now)
{
    uint32_t used = now - c->start, budget = c->budget_ms;
    switch ((cb_phase_t)c->phase) {
    case CB_HEADER:
    case CB_PUSH: break;
    case CB_BODY:
    case CB_REPLY: {
        uint64_t earned = CONN_RATE_GRACE_MS + (uint64_t)c->moved * 1000u / CONN_RATE_MIN;
        budget = earned < budget ? (uint32_t)earned : budget;
        break;
    }
    default: return budget; /* CB_IDLE, CB_STREAM: each wait has the whole budget */
    }
    return used < budget ? budget - used : 0u;
}

const char *conn_budget_why(cb_phase_t ph)
{
    switch (ph) {
    case CB_HEADER: return "no complete request header within web.header_timeout_ms";
    case CB_BODY: return "request body slower than 4 kB/s or longer than web.request_timeout_ms";
    case CB_REPLY: return "reply taken slower than 4 kB/s or longer than web.request_timeout_ms";
    case CB_PUSH: return "it took no WebSocket update in time";
    default: return "no progress in time";
    }
}
