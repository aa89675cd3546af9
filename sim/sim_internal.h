/* Private glue between the simulator's source files (model, registers, responder).
 * Not part of the API: only the simulator sources include it. Names start with sim__ (two underscores). */
#ifndef TB_SIM_INTERNAL_H
#define TB_SIM_INTERNAL_H

#include "sim/sim.h"

#define SIM_REG_SPACE 600u     /* addresses 0..599 exist; reserved ones read 0 */
#define SIM_REBOOT_MS 1500u    /* silence after a restart, wire clock */
#define SIM_BLEED_A 0.150      /* passive balancing current per cell */

/* Index of a settings register in sim_t.settings. */
#define SIM_S(reg) ((reg) - SIM_SETTINGS_FIRST)
#define SIM_SET(sim, reg) ((sim)->settings[SIM_S(reg)])

/* PRNG (xorshift64* seeded through splitmix64): deterministic, never 0 state. */
uint64_t sim__rng_seed(uint64_t seed);
uint64_t sim__rng_next(uint64_t *st);
double sim__rng_unit(uint64_t *st);          /* [0, 1) */
uint32_t sim__rng_below(uint64_t *st, uint32_t n); /* [0, n), n > 0 */
bool sim__rng_hit(uint64_t *st, double p);   /* true with probability p; p >= 1 draws nothing */

#define SIM_PROT_COUNT 9u      /* number of SIM_PROT_* bits */

/* Model (sim_model.c). */
double sim__rng_gauss(uint64_t *st);
void sim__init_cells(sim_t *sim);
void sim__place_soc(sim_t *sim, double pct);
void sim__refresh_voltages(sim_t *sim);
bool sim__charge_allowed(const sim_t *sim);
bool sim__discharge_allowed(const sim_t *sim);
double sim__true_soc(const sim_t *sim);
void sim__wake(sim_t *sim, uint8_t src);
void sim__log_event(sim_t *sim, uint8_t id);
uint32_t sim__lifetime(const sim_t *sim);
void sim__publish(sim_t *sim);
void sim__set_bms_soc(sim_t *sim, double pct);
void sim__begin_reboot(sim_t *sim, uint32_t now_ms);

/* Registers (sim_regs.c). */
void sim__settings_defaults(sim_t *sim);
uint16_t sim__reg(const sim_t *sim, uint16_t addr);
/* Write n (addr, value) pairs atomically: every pair is checked against the state the earlier
 * pairs produce; on the first refusal nothing is written. SIM_OK, SIM_ERR_READONLY, SIM_ERR_RANGE. */
int sim__write_list(sim_t *sim, const uint16_t *addrs, const uint16_t *vals, size_t n,
                    uint32_t now_ms);
/* 0x1D option 1..4 value of settings register addr. */
uint16_t sim__setting_opt(const sim_t *sim, uint8_t opt, uint16_t addr);

/* Responder (sim_proto.c). */
void sim__rx_reset(sim_t *sim);
void sim__broadcast(sim_t *sim, uint32_t t_ms);

#endif
