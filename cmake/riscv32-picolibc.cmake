# Toolchain file: bare-metal rv32imc / ilp32 (the ESP32-C3 instruction set) with Debian's
# gcc-riscv64-unknown-elf and picolibc-riscv64-unknown-elf (scripts/deps.sh target).
#
# Debian's GCC ships no rv32imc multilib; -march=rv32imc -mabi=ilp32 selects rv32im/ilp32
# (`riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32 -print-multi-directory`), so our own
# code uses compressed instructions and picolibc/libgcc come from the rv32im build: the same
# ISA minus the C extension, link-compatible. ilp32 = soft float, as on the ESP32-C3 (no FPU).
#
# Used by tests/target/CMakeLists.txt only; the host build never sees it.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)

set(TB_RV_PREFIX riscv64-unknown-elf- CACHE STRING "Prefix of the bare-metal RISC-V tools")
set(CMAKE_C_COMPILER ${TB_RV_PREFIX}gcc)
set(CMAKE_ASM_COMPILER ${TB_RV_PREFIX}gcc)
set(CMAKE_AR ${TB_RV_PREFIX}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${TB_RV_PREFIX}ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY ${TB_RV_PREFIX}objcopy CACHE FILEPATH "")
set(CMAKE_SIZE ${TB_RV_PREFIX}size CACHE FILEPATH "")
set(CMAKE_NM ${TB_RV_PREFIX}nm CACHE FILEPATH "")

set(TB_RV_ARCH "-march=rv32imc -mabi=ilp32")
# picolibc.specs: picolibc's headers and libraries instead of newlib's.
set(CMAKE_C_FLAGS_INIT "${TB_RV_ARCH} --specs=picolibc.specs")
set(CMAKE_ASM_FLAGS_INIT "${TB_RV_ARCH} --specs=picolibc.specs")
# (CMAKE_C_FLAGS are passed to the link as well: giving the specs twice is an error.)

# There is no OS to run test programs on: probe the compiler with a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
