/* Reset code of the target test image (QEMU "virt", -bios none, rv32imc, machine mode).
 *
 * QEMU's reset vector jumps to the start of DRAM (0x80000000), where the linker script puts
 * _start. There is no firmware and no OS: set up gp and sp, install a trap vector (so that an
 * illegal instruction or a misaligned access ends the run with a message instead of hanging
 * until the time-out), copy .data, clear .bss and call tt_entry(), which never returns
 * (it leaves through the semihosting exit call).
 *
 * CSR access is the Zicsr extension, which binutils >= 2.38 no longer implies in rv32imc (the
 * ESP32-C3 has it: rv32imc_zicsr_zifencei); only this file needs it.
 */
    .option arch, +zicsr

    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __stack_top
    la      t0, tt_trap_vector
    csrw    mtvec, t0

    la      t0, __data_load
    la      t1, __data_start
    la      t2, __data_end
1:  bgeu    t1, t2, 2f
    lw      t3, 0(t0)
    sw      t3, 0(t1)
    addi    t0, t0, 4
    addi    t1, t1, 4
    j       1b

2:  la      t0, __bss_start
    la      t1, __bss_end
3:  bgeu    t0, t1, 4f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       3b

4:  call    tt_entry
5:  wfi
    j       5b
    .size _start, . - _start

/* Direct-mode trap vector (mtvec needs 4-byte alignment). The state of the interrupted code is
 * not preserved: the handler reports mcause/mepc/mtval and exits. */
    .section .text.trap, "ax", @progbits
    .balign 4
    .globl tt_trap_vector
    .type tt_trap_vector, @function
tt_trap_vector:
    la      sp, __stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    tt_trap
6:  wfi
    j       6b
    .size tt_trap_vector, . - tt_trap_vector

/* Semihosting call (RISC-V semihosting spec / ARM "angel" numbering): a0 = operation,
 * a1 = parameter, result in a0. The debugger (QEMU with -semihosting) recognises the exact
 * uncompressed sequence slli/ebreak/srai; it must not straddle a page, hence the alignment. */
    .section .text.semihost, "ax", @progbits
    .balign 16
    .globl tt_semihost
    .type tt_semihost, @function
tt_semihost:
    .option push
    .option norvc
    slli    zero, zero, 0x1f
    ebreak
    srai    zero, zero, 0x7
    .option pop
    ret
    .size tt_semihost, . - tt_semihost
