/* Entry of core-linked.elf, the footprint image: the whole core linked as a firmware links it
 * (linker relaxation on, every function kept), so that scripts/size-report.sh can read from the
 * map what the core really puts into flash. Never run. */
    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    j       _start
    .size _start, . - _start
