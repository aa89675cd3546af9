/* tb_docs: the TB_CORE_DOCS build knob.
 *
 * Documentation text in the core's ROM tables — the one-sentence `doc` of every configuration
 * row (core/cfg_schema.h) and the label and value description of every register
 * (core/tb_regs.h) — is written as TB_DOC("..."). Default 1 keeps it. 0 compiles each to "" so
 * that a microcontroller build does not carry the text in flash (the target build in
 * tests/target does this; docs/porting.md, docs/performance.md). Everything else stays: keys,
 * names, units, ranges, defaults and the struct fields themselves; only the text is empty, and a
 * port that shows it must cope with "" (e.g. take the text from a file generated on the host).
 * A NULL value description stays NULL.
 */
#ifndef TB_DOCS_H
#define TB_DOCS_H

#ifndef TB_CORE_DOCS
#define TB_CORE_DOCS 1
#endif

#if TB_CORE_DOCS == 1
#define TB_DOC(text) text
#elif TB_CORE_DOCS == 0
#define TB_DOC(text) ""
#else
#error "TB_CORE_DOCS must be 0 or 1"
#endif

#endif
