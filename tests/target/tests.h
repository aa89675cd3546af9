/* Test cases of the target image (one function per vector table or module); see main.c. */
#ifndef TT_TESTS_H
#define TT_TESTS_H

#include "tt.h"

void t_crc16_check_value(void);
void t_tb_vectors_requests(void);
void t_tb_vectors_replies(void);
void t_jw_output(void);
void t_cfg_schema(void);
void t_bms_decode_14s(void);
void t_tb_regs(void);
void t_poll_round_trip(void);
void t_vcan_vectors(void);
void t_charge_vectors(void);
void t_charge_scenario(void);

#endif
