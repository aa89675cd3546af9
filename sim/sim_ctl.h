/* sim_ctl: the simulator's control channel - one text command in, one line out.
 *
 * Used by tinybms-sim for stdin and the --control socket, and by anything that wants to drive
 * a sim_t with words instead of calls. Every command either succeeds completely or changes
 * nothing and answers "error: <why>". Commands (docs/simulator.md has the full list):
 *
 *   current <A> | idle | discharge <A> [stop_soc] | charge [A] [V] [tail_A]
 *   solar [peak_A] [load_A] [day_s] [start_hour] | profile <file> [loop] | charger auto|on|off
 *   limits <cvl_V> <ccl_A> <dcl_A> | limits off
 *   fault <kind> [args] | fault clear [kind] | faults
 *   set soc|ambient|temp|speed|latency <value> | set sleep on|off
 *   write <reg> <value> | reg <reg> [count] | truth | stats | reboot | help | quit
 *
 * Output: "ok", "ok <data>", a JSON object (truth, stats) or "error: <message>"; never a
 * newline inside, always NUL-terminated (truncated to cap - 1 if cap is too small; 4096 is
 * always enough).
 *
 * Memory: sim_ctl_t is caller-owned (about 130 KiB: two profile buffers, so that a profile that
 * fails to load leaves the running one intact). Thread safety: none.
 */
#ifndef TB_SIM_CTL_H
#define TB_SIM_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/sim.h"

#define SIM_CTL_MAX_POINTS 4096u
#define SIM_CTL_LINE_MAX 512u   /* longer command lines are refused */
#define SIM_CTL_OUT_MAX 4096u   /* an output buffer this large never truncates */
#define SIM_CTL_FILE_MAX (1u << 20) /* profile files larger than 1 MiB are refused */

enum { SIM_CTL_OK = 0, SIM_CTL_QUIT = 1 };

typedef struct {
    sim_t *sim;
    bool allow_files;   /* false: "profile" is refused (fuzzing, untrusted callers) */
    int active;         /* index of the buffer the running PROFILE load uses, -1 none */
    size_t n[2];
    sim_point_t pts[2][SIM_CTL_MAX_POINTS];
} sim_ctl_t;

/* Bind ctl to sim (which must outlive ctl). */
void sim_ctl_init(sim_ctl_t *ctl, sim_t *sim, bool allow_files);

/* Execute one command line (NUL-terminated, optional trailing newline) at wire time now_ms.
 * Returns SIM_CTL_OK, SIM_CTL_QUIT ("quit"/"exit"), or a negative sim_err_t (out then holds
 * "error: ..."). out/cap receive the one-line answer; cap >= 1. */
int sim_ctl_exec(sim_ctl_t *ctl, const char *line, uint32_t now_ms, char *out, size_t cap);

/* Apply one fault specification: "<kind> [args]" as after the word "fault" (also accepts ':'
 * as separator, e.g. "crc:0.2", for command-line flags). Same result codes as sim_ctl_exec. */
int sim_ctl_fault(sim_ctl_t *ctl, const char *spec, uint32_t now_ms, char *out, size_t cap);

#endif
