/* SPDX-License-Identifier: GPL-2.0 */
/* C side of the lists of layout_probe.rs (scripts/layout-test.sh). */
#include <linux/bio.h>
#include <linux/sched.h>

#if defined(LAYOUT_PROBE_good)
/* Types and fields that agree in every config: the build passes. */
#define KSTOR_LAYOUT(S, F)						\
	S(bio) F(bio, bi_opf) F(bio, bi_iter)				\
	S(bvec_iter) F(bvec_iter, bi_sector)
#elif defined(LAYOUT_PROBE_task)
/*
 * task_struct, which bindgen lays out wrongly when CONFIG_SCHEDSTATS is
 * off (the empty, 64-byte aligned struct sched_statistics loses its
 * alignment): __state, before stats, agrees; mm and pid do not.
 */
#define KSTOR_LAYOUT(S, F)						\
	S(bio) F(bio, bi_opf)						\
	S(task_struct) F(task_struct, __state) F(task_struct, mm)	\
	F(task_struct, pid)
#elif defined(LAYOUT_PROBE_count)
/* One entry more than the Rust list: the build fails. */
#define KSTOR_LAYOUT(S, F)						\
	S(bio) F(bio, bi_opf) F(bio, bi_iter)				\
	S(bvec_iter) F(bvec_iter, bi_sector) F(bvec_iter, bi_size)
#endif

#include "layout_check.h"
