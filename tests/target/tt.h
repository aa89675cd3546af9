/* tt: the minimal test runner of the target image (no cmocka, no stdio, no heap).
 *
 * Output and the exit status go through semihosting (tt.c). A test case is a void function;
 * checks record failures and carry on, so one run explains every failing check (the first
 * TT_MAX_REPORTS of each case are printed). The image exits 0 when every case passed, 1
 * otherwise, 2 on a CPU trap.
 *
 * Adding a golden-vector file in tests/vectors/: write one test function that walks its table
 * (tests/target/t_<vectors>.c) and add one line to k_cases[] in tests/target/main.c.
 */
#ifndef TT_H
#define TT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_MAX_REPORTS 8u

typedef struct {
    const char *name;
    void (*run)(void);
} tt_case_t;

/* Runs every case, prints a line per case and a summary; returns the number of failed cases. */
unsigned tt_run(const tt_case_t *cases, size_t n);

/* Output (buffered per line, flushed on '\n'). */
void tt_puts(const char *s);
void tt_put_int(int64_t v);
void tt_put_uint(uint64_t v);
void tt_put_hex(uint32_t v, unsigned digits);
/* Fixed point with `decimals` digits (0..9); NaN and infinities by name. */
void tt_put_double(double v, unsigned decimals);

/* A label printed with every failure until the next call (e.g. the vector's name); NULL clears. */
void tt_context(const char *what);

bool tt_check_(bool ok, const char *file, int line, const char *expr);
bool tt_eq_int_(int64_t got, int64_t want, const char *file, int line, const char *expr);
bool tt_near_(double got, double want, double tol, const char *file, int line, const char *expr);
bool tt_eq_str_(const char *got, const char *want, const char *file, int line, const char *expr);
bool tt_eq_mem_(const void *got, const void *want, size_t n, const char *file, int line, const char *expr);

#define TT_CHECK(c) tt_check_((c), __FILE__, __LINE__, #c)
#define TT_EQ(got, want) tt_eq_int_((int64_t)(got), (int64_t)(want), __FILE__, __LINE__, #got " == " #want)
#define TT_NEAR(got, want, tol) \
    tt_near_((double)(got), (double)(want), (double)(tol), __FILE__, __LINE__, #got " ~ " #want)
#define TT_STREQ(got, want) tt_eq_str_((got), (want), __FILE__, __LINE__, #got " == " #want)
#define TT_MEMEQ(got, want, n) tt_eq_mem_((got), (want), (n), __FILE__, __LINE__, #got " == " #want)

/* Semihosting (start.S, tt.c). */
int tt_semihost(int op, void *param);
/* The command line QEMU passes with -semihosting-config arg=...; "" if none. */
const char *tt_cmdline(void);
_Noreturn void tt_exit(int code);

#endif
