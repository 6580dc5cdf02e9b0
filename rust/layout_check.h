/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C's layout of the structs listed in KSTOR_LAYOUT(S, F), as constants
 * that bindgen evaluates with clang (that is, with the real C layout) and
 * rust/layout_check.rs compares with the Rust types. See
 * Documentation/dev/layout.rst.
 *
 * The includer defines KSTOR_LAYOUT(S, F) as a list of S(type) and
 * F(type, field) entries (the types are C structs), then includes this
 * header. For each, this defines:
 *
 *	KSTOR_SIZE_<type>, KSTOR_ALIGN_<type>		S(type)
 *	KSTOR_OFF_<type>__<field>, KSTOR_FSIZE_<type>__<field>	F(type, field)
 *
 * and KSTOR_LAYOUT_ENTRIES, the number of entries, which the Rust list
 * must match.
 */
#ifndef KSTOR_LAYOUT_CHECK_H
#define KSTOR_LAYOUT_CHECK_H

#include <linux/stddef.h>

#define KSTOR_LAYOUT_S_(t)						\
	KSTOR_SIZE_##t = sizeof(struct t),				\
	KSTOR_ALIGN_##t = _Alignof(struct t),
#define KSTOR_LAYOUT_F_(t, f)						\
	KSTOR_OFF_##t##__##f = offsetof(struct t, f),			\
	KSTOR_FSIZE_##t##__##f = sizeof(((struct t *)0)->f),
#define KSTOR_LAYOUT_SN_(t) KSTOR_ENTRY_##t,
#define KSTOR_LAYOUT_FN_(t, f) KSTOR_ENTRY_##t##__##f,

enum {
	KSTOR_LAYOUT(KSTOR_LAYOUT_S_, KSTOR_LAYOUT_F_)
};

/* Counts the entries: one enumerator each, starting at 0. */
enum {
	KSTOR_LAYOUT(KSTOR_LAYOUT_SN_, KSTOR_LAYOUT_FN_)
	KSTOR_LAYOUT_ENTRIES
};

#endif /* KSTOR_LAYOUT_CHECK_H */
