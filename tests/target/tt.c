#include "tt.h"

#include <string.h>

/* ARM semihosting operation numbers, shared by the RISC-V semihosting specification. */
enum {
    SYS_WRITE0 = 0x04,        /* write a NUL-terminated string to the debug console */
    SYS_GET_CMDLINE = 0x15,   /* {char *buf, int len}: the command line */
    SYS_EXIT_EXTENDED = 0x20  /* {reason, subcode}: exit with a status code on 32-bit targets too */
};
/* Reason code of SYS_EXIT*: normal application exit; QEMU's exit status is then the subcode. */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* ---- output --------------------------------------------------------------------------------- */

static char g_line[256];
static size_t g_len;

static void flush(void)
{
    if (g_len > 0) {
        g_line[g_len] = '\0';
        tt_semihost(SYS_WRITE0, g_line);
        g_len = 0;
    }
}

static void putc_(char c)
{
    g_line[g_len++] = c;
    if (c == '\n' || g_len == sizeof g_line - 1u) {
        flush();
    }
}

void tt_puts(const char *s)
{
    while (s && *s) {
        putc_(*s++);
    }
}

void tt_put_uint(uint64_t v)
{
    char b[24];
    size_t n = 0;
    do {
        b[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        putc_(b[--n]);
    }
}

void tt_put_int(int64_t v)
{
    if (v < 0) {
        putc_('-');
        tt_put_uint(0u - (uint64_t)v);
    } else {
        tt_put_uint((uint64_t)v);
    }
}

void tt_put_hex(uint32_t v, unsigned digits)
{
    static const char hex[] = "0123456789ABCDEF";
    tt_puts("0x");
    for (unsigned i = digits; i > 0; i--) {
        putc_(hex[(v >> (4u * (i - 1u))) & 0xFu]);
    }
}

void tt_put_double(double v, unsigned decimals)
{
    if (v != v) {
        tt_puts("nan");
        return;
    }
    if (v < 0) {
        putc_('-');
        v = -v;
    }
    if (v > 1e18) {
        tt_puts("inf-or-huge");
        return;
    }
    uint64_t scale = 1;
    for (unsigned i = 0; i < decimals && i < 9u; i++) {
        scale *= 10u;
    }
    uint64_t fixed = (uint64_t)(v * (double)scale + 0.5);
    tt_put_uint(fixed / scale);
    if (decimals > 0) {
        putc_('.');
        uint64_t frac = fixed % scale;
        for (uint64_t d = scale / 10u; d > 0; d /= 10u) {
            putc_((char)('0' + (int)(frac / d % 10u)));
        }
    }
}

/* ---- checks --------------------------------------------------------------------------------- */

static const char *g_context;
static unsigned g_failed_checks;
static unsigned g_checks;

void tt_context(const char *what)
{
    g_context = what;
}

static bool report(bool ok, const char *file, int line, const char *expr)
{
    g_checks++;
    if (ok) {
        return true;
    }
    g_failed_checks++;
    if (g_failed_checks <= TT_MAX_REPORTS) {
        tt_puts("    FAIL ");
        tt_puts(file);
        putc_(':');
        tt_put_int(line);
        tt_puts(": ");
        tt_puts(expr);
        if (g_context) {
            tt_puts(" [");
            tt_puts(g_context);
            putc_(']');
        }
    }
    return false;
}

static void end_report(void)
{
    if (g_failed_checks <= TT_MAX_REPORTS) {
        putc_('\n');
    }
}

bool tt_check_(bool ok, const char *file, int line, const char *expr)
{
    if (!report(ok, file, line, expr)) {
        end_report();
    }
    return ok;
}

bool tt_eq_int_(int64_t got, int64_t want, const char *file, int line, const char *expr)
{
    bool ok = got == want;
    if (!report(ok, file, line, expr) && g_failed_checks <= TT_MAX_REPORTS) {
        tt_puts(" (got ");
        tt_put_int(got);
        tt_puts(", want ");
        tt_put_int(want);
        putc_(')');
        end_report();
    }
    return ok;
}

bool tt_near_(double got, double want, double tol, const char *file, int line, const char *expr)
{
    double d = got - want;
    bool ok = (d <= tol && d >= -tol) || (got != got && want != want);
    if (!report(ok, file, line, expr) && g_failed_checks <= TT_MAX_REPORTS) {
        tt_puts(" (got ");
        tt_put_double(got, 6);
        tt_puts(", want ");
        tt_put_double(want, 6);
        putc_(')');
        end_report();
    }
    return ok;
}

bool tt_eq_str_(const char *got, const char *want, const char *file, int line, const char *expr)
{
    bool ok = got && want && strcmp(got, want) == 0;
    if (!report(ok, file, line, expr) && g_failed_checks <= TT_MAX_REPORTS) {
        tt_puts(" (got \"");
        tt_puts(got ? got : "(null)");
        tt_puts("\", want \"");
        tt_puts(want ? want : "(null)");
        tt_puts("\")");
        end_report();
    }
    return ok;
}

bool tt_eq_mem_(const void *got, const void *want, size_t n, const char *file, int line, const char *expr)
{
    bool ok = memcmp(got, want, n) == 0;
    if (!report(ok, file, line, expr) && g_failed_checks <= TT_MAX_REPORTS) {
        const uint8_t *g = got, *w = want;
        size_t i = 0;
        while (i < n && g[i] == w[i]) {
            i++;
        }
        tt_puts(" (first difference at byte ");
        tt_put_uint(i);
        tt_puts(": got ");
        tt_put_hex(g[i], 2);
        tt_puts(", want ");
        tt_put_hex(w[i], 2);
        putc_(')');
        end_report();
    }
    return ok;
}

/* ---- runner --------------------------------------------------------------------------------- */

unsigned tt_run(const tt_case_t *cases, size_t n)
{
    unsigned failed = 0;
    unsigned total_checks = 0;
    for (size_t i = 0; i < n; i++) {
        g_failed_checks = 0;
        g_checks = 0;
        g_context = NULL;
        cases[i].run();
        total_checks += g_checks;
        if (g_failed_checks == 0) {
            tt_puts("[ PASS ] ");
        } else {
            tt_puts("[ FAIL ] ");
            failed++;
        }
        tt_puts(cases[i].name);
        tt_puts(" (");
        tt_put_uint(g_checks);
        tt_puts(" checks");
        if (g_failed_checks > 0) {
            tt_puts(", ");
            tt_put_uint(g_failed_checks);
            tt_puts(" failed");
        }
        tt_puts(")\n");
    }
    tt_put_uint(n - failed);
    tt_puts(" passed, ");
    tt_put_uint(failed);
    tt_puts(" failed (");
    tt_put_uint(total_checks);
    tt_puts(" checks)\n");
    return failed;
}

/* ---- semihosting ---------------------------------------------------------------------------- */

const char *tt_cmdline(void)
{
    static char buf[128];
    struct {
        char *buf;
        int len;
    } blk = {buf, (int)sizeof buf};
    if (tt_semihost(SYS_GET_CMDLINE, &blk) != 0) {
        buf[0] = '\0';
    }
    buf[sizeof buf - 1u] = '\0';
    return buf;
}

_Noreturn void tt_exit(int code)
{
    flush();
    /* The parameter block form (SYS_EXIT_EXTENDED) is what lets a 32-bit target pass a status:
     * plain SYS_EXIT on rv32 only distinguishes "application exit" (0) from anything else (1). */
    uint32_t blk[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    tt_semihost(SYS_EXIT_EXTENDED, blk);
    for (;;) {
        /* not reached under QEMU; on a board without a debugger, stop here */
    }
}

void tt_trap(uint32_t mcause, uint32_t mepc, uint32_t mtval);
void tt_trap(uint32_t mcause, uint32_t mepc, uint32_t mtval)
{
    tt_puts("\nTRAP mcause=");
    tt_put_hex(mcause, 8);
    tt_puts(" mepc=");
    tt_put_hex(mepc, 8);
    tt_puts(" mtval=");
    tt_put_hex(mtval, 8);
    tt_puts(" (see riscv64-unknown-elf-addr2line -e IMAGE)\n");
    tt_exit(2);
}
