# GNU ld map file -> one line "size file" for every .text*, .rodata* and .srodata* input section
# placed in the output (the memory-map part; a section name too long for its column puts the
# address, size and file on the next line). Used by size-report.sh and size-explore.sh.
/^Linker script and memory map/ { m = 1 }
m && /^ \.(text|s?rodata)[^ ]* +0x/ && NF >= 4 { print $3, $4; next }
m && /^ \.(text|s?rodata)[^ ]*$/ { getline; if (NF >= 3) print $2, $3 }
