/* tb_docs: the TB_CORE_DOCS build knob.
 *
 * Documentation text in the core's ROM tables — the one-sentence doc of every configuration
 * row (core/cfg_schema.h, cfg_param_doc()) and the label and value description of every
 * register (core/tb_regs.h) — is kept with the default 1. 0 leaves it out so that a
 * microcontroller build does not carry the text in flash (the target build in tests/target does
 * this; docs/porting.md, docs/performance.md): the accessors return "" and the configuration
 * rows lose their doc pointer too. Everything else stays: keys, names, units, ranges and
 * defaults; a port that shows the text must cope with "" (e.g. take it from a file generated on
 * the host). A NULL value description stays NULL. Other table text can use TB_DOC("...").
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
