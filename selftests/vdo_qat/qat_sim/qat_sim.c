// SPDX-License-Identifier: GPL-2.0
/*
 * qat_sim - a software stand-in for Intel QAT's "qat_deflate" acomp
 * algorithm, for the kselftests of the vdo_qat device-mapper target.
 *
 * It registers an asynchronous acomp algorithm named "deflate" (driver name
 * "qat_sim_deflate", priority 4000, CRYPTO_ALG_ASYNC) that behaves the way
 * drivers/crypto/intel/qat/qat_common/qat_comp_algs.c does, as seen by a
 * caller:
 *
 *  - raw deflate (RFC 1951) with a 32 KiB window (windowBits -15, memLevel
 *    8), like the QAT hardware, not deflate-generic's 2 KiB window;
 *  - requests are validated at submission and queued; submission returns
 *    -EINPROGRESS, or -EBUSY when backlogged, and a single worker thread on
 *    its own workqueue (the "device") processes them one at a time through
 *    a preallocated deflate/inflate workspace and bounce buffers;
 *  - the completion callback is called with bottom halves disabled, like
 *    QAT's softirq response handler, so a callback that sleeps is caught by
 *    might_sleep()/lockdep;
 *  - output that does not fit in req->dlen fails with -E2BIG (compression
 *    and decompression), corrupt input fails with -EBADMSG, req->dlen is set
 *    to the output length on success and to 0 on an asynchronous error;
 *  - scatterlists are checked the way qat_bl.c would consume them (one
 *    dma_map_single(sg_virt(sg), sg->length) per entry, see below).
 *
 * Submission (crypto_acomp_compress()/crypto_acomp_decompress()) returns
 * synchronously, without calling the callback, with:
 *  -EINVAL  virtual-address request (should not happen: the acomp API turns
 *           those into scatterlists for an algorithm without
 *           CRYPTO_ALG_REQ_VIRT), NULL src/dst, slen or dlen 0, slen or dlen
 *           above 64 KiB, or a scatterlist entry QAT could not DMA-map;
 *  -ENODEV  the algorithm the tfm was allocated from has been unregistered
 *           (parameter "registered" set to 0 since);
 *  -ENOSPC  queue full (queue_limit) and no CRYPTO_TFM_REQ_MAY_BACKLOG
 *           (QAT's "ring full").
 *
 * Scatterlist rules (checked on the entries needed to cover slen, resp.
 * dlen; the first offending entry is reported with pr_warn_ratelimited()
 * and the request fails with -EINVAL, counted in sg_rejects):
 *  - an entry must not have length 0;
 *  - its page (after normalising an offset >= PAGE_SIZE) must be a valid
 *    page frame, not highmem, with its page_address() in the linear map;
 *  - an entry whose offset + length goes beyond its first page is accepted
 *    only if every page it covers belongs to the folio of its first page.
 *    QAT maps sg_virt(sg) with dma_map_single() for sg->length bytes, which
 *    silently DMAs the wrong memory for, e.g., a multi-page vmalloc span.
 * More than 4 entries in one direction is allowed (QAT allocates a larger
 * buffer list with GFP_ATOMIC) but counted in sg_over4.
 *
 * Parameters (/sys/module/qat_sim/parameters/, writable at runtime):
 *  level        int -1..9, default -1 (Z_DEFAULT_COMPRESSION): zlib level
 *               of compression requests processed from now on.
 *  error_rate   uint 0..100, default 0: percentage of requests (drawn with
 *               get_random_u32_below(100) when the worker takes them) that
 *               complete with -error_code instead of being processed;
 *               counted in injected_errors.
 *  error_code   uint 1..4095, default 5 (EIO): errno of injected errors.
 *  queue_limit  uint, default 0 (unlimited): number of requests the "ring"
 *               holds (queued or being processed). A request that does not
 *               fit, or that arrives while others wait in the backlog, goes
 *               to the backlog and submission returns -EBUSY if it has
 *               CRYPTO_TFM_REQ_MAY_BACKLOG (counted in backlogged), else it
 *               fails with -ENOSPC. When a backlogged request enters the
 *               ring its callback is called with -EINPROGRESS, then later
 *               with the final status.
 *  delay_ms     uint, default 0: a request completes no earlier than
 *               delay_ms after its submission (the worker re-arms a delayed
 *               work, it never sleeps). Evaluated with the current value
 *               when the request reaches the head of the queue.
 *  stuck        bool, default 0: while 1 the worker holds every queued
 *               request (the device hangs); setting it back to 0 resumes
 *               processing. Requests of an unregistered algorithm are still
 *               failed with -ENODEV while stuck.
 *  registered   bool, default 1: writing 0 unregisters the algorithm, like
 *               a QAT device going down: new "deflate" allocations get the
 *               next provider (deflate-generic), and every request
 *               submitted to a tfm of the old registration, or still queued
 *               or backlogged on it, completes with -ENODEV (a request
 *               the worker is already processing finishes normally).
 *               Existing tfms stay valid until freed. Writing 1 registers
 *               a fresh algorithm (each registration is its own kzalloc'd
 *               struct acomp_alg freed by .cra_destroy).
 *  selftest     bool, read-only, load time only, default 0: at init run a
 *               self-test through the crypto API (round trips, 32 KiB
 *               window, multi-entry SGs, -E2BIG, -EBADMSG, SG rejects,
 *               error injection, delay, backlog/-ENOSPC, unregister with a
 *               live tfm) with the knobs above temporarily overridden; the
 *               module fails to load with -EIO when a check fails. Its own
 *               requests are counted in the counters below.
 *
 * Counters (read-only, /sys/module/qat_sim/parameters/, since load):
 *  requests         every call to compress/decompress, accepted or not.
 *  compressed       successful compressions.
 *  decompressed     successful decompressions.
 *  completed        final completions of any status: callbacks with a
 *                   status other than -EINPROGRESS plus synchronous
 *                   failures; requests == completed + in_flight.
 *  injected_errors  requests failed on purpose by error_rate.
 *  e2big            requests failed with -E2BIG (output too large).
 *  sg_rejects       requests refused at submission for a scatterlist entry.
 *  sg_over4         directions (src or dst) with more than 4 entries.
 *  virt_requests    requests that reached the driver with a virtual address
 *                   source or destination (refused with -EINVAL).
 *  backlogged       requests that went to the backlog (returned -EBUSY).
 *  too_big          requests refused because slen or dlen exceeds 64 KiB.
 *  in_flight        accepted requests not yet finally completed (gauge).
 *  max_in_flight    the highest in_flight seen.
 *  busy_ns          nanoseconds the worker spent in zlib (de)compression:
 *                   stands in for accelerator time in benchmarks.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/acompress.h>
#include <crypto/internal/acompress.h>
#include <linux/atomic.h>
#include <linux/bottom_half.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <linux/zlib.h>

#define QS_DRIVER_NAME	"qat_sim_deflate"
#define QS_PRIORITY	4000
#define QS_MAX_LEN	SZ_64K
/* QAT stores this many buffer descriptors inline (QAT_MAX_BUFF_DESC). */
#define QS_INLINE_BUFS	4

/* One registration of the algorithm; freed by .cra_destroy. */
struct qs_alg {
	struct acomp_alg alg;
	/* Set under qs_lock when unregistered; never cleared. */
	bool dead;
	/* Set by qs_alg_destroy() while crypto_register_acomp() runs. */
	bool *destroyed;
};

/* Per-request state, in the acomp_req context (cra_reqsize). */
struct qs_req {
	struct list_head node;		/* qs_queue, qs_backlog or local */
	struct list_head notify;	/* worker-local -EINPROGRESS list */
	struct acomp_req *areq;
	struct qs_alg *qa;
	u64 submit_ns;
	unsigned int src_nents;
	unsigned int dst_nents;
	bool compress;
	bool backlogged;
};

/* Knobs. */
static int qs_level = Z_DEFAULT_COMPRESSION;
static unsigned int qs_error_rate;
static unsigned int qs_error_code = EIO;
static unsigned int qs_queue_limit;
static unsigned int qs_delay_ms;
static bool qs_stuck;
static bool qs_registered = true;
static bool qs_selftest;

static struct {
	atomic64_t requests;
	atomic64_t compressed;
	atomic64_t decompressed;
	atomic64_t completed;
	atomic64_t injected_errors;
	atomic64_t e2big;
	atomic64_t sg_rejects;
	atomic64_t sg_over4;
	atomic64_t virt_requests;
	atomic64_t backlogged;
	atomic64_t too_big;
	atomic64_t in_flight;
	atomic64_t max_in_flight;
	atomic64_t busy_ns;
} qs_stat;

/*
 * qs_mutex serialises registration, qs_live and kicking the worker from
 * parameter writes (qs_wq exists exactly while qs_live is true).
 */
static DEFINE_MUTEX(qs_mutex);
static bool qs_live;
static struct qs_alg *qs_cur;

/*
 * qs_lock protects the lists, qs_ring, qs_dead_gen and qs_alg.dead. It is
 * taken with spin_lock_bh(): submissions may come from softirq context.
 */
static DEFINE_SPINLOCK(qs_lock);
static LIST_HEAD(qs_queue);		/* in the ring, waiting for the worker */
static LIST_HEAD(qs_backlog);		/* accepted with -EBUSY */
static unsigned int qs_ring;		/* qs_queue + the one being processed */
static unsigned long qs_dead_gen;	/* bumped by every unregistration */
static unsigned long qs_swept_gen;	/* worker only */

static struct workqueue_struct *qs_wq;
static void qs_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(qs_dwork, qs_work_fn);

/* Worker-only resources: the simulated device has one engine. */
static void *qs_deflate_ws;
static void *qs_inflate_ws;
static u8 *qs_inbuf;
static u8 *qs_outbuf;

/* ---- parameters ---- */

static void qs_kick(void)
{
	mutex_lock(&qs_mutex);
	if (qs_live)
		mod_delayed_work(qs_wq, &qs_dwork, 0);
	mutex_unlock(&qs_mutex);
}

static int qs_set_uint_kick(const char *val, const struct kernel_param *kp)
{
	int err = param_set_uint(val, kp);

	if (!err)
		qs_kick();
	return err;
}

static const struct kernel_param_ops qs_uint_kick_ops = {
	.set = qs_set_uint_kick,
	.get = param_get_uint,
};

static int qs_set_bool_kick(const char *val, const struct kernel_param *kp)
{
	int err = param_set_bool(val, kp);

	if (!err)
		qs_kick();
	return err;
}

static const struct kernel_param_ops qs_bool_kick_ops = {
	.set = qs_set_bool_kick,
	.get = param_get_bool,
};

static int qs_set_level(const char *val, const struct kernel_param *kp)
{
	int level, err;

	err = kstrtoint(val, 0, &level);
	if (err)
		return err;
	if (level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION)
		return -EINVAL;
	WRITE_ONCE(*(int *)kp->arg, level);
	return 0;
}

static const struct kernel_param_ops qs_level_ops = {
	.set = qs_set_level,
	.get = param_get_int,
};

static int qs_set_error_rate(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, 100);
}

static const struct kernel_param_ops qs_error_rate_ops = {
	.set = qs_set_error_rate,
	.get = param_get_uint,
};

static int qs_set_error_code(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, MAX_ERRNO);
}

static const struct kernel_param_ops qs_error_code_ops = {
	.set = qs_set_error_code,
	.get = param_get_uint,
};

static int qs_set_registered_state(bool on);

static int qs_set_registered(const char *val, const struct kernel_param *kp)
{
	bool on;
	int err;

	err = kstrtobool(val, &on);
	if (err)
		return err;
	return qs_set_registered_state(on);
}

static const struct kernel_param_ops qs_registered_ops = {
	.set = qs_set_registered,
	.get = param_get_bool,
};

static int qs_stat_set(const char *val, const struct kernel_param *kp)
{
	return -EPERM;
}

static int qs_stat_get(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%lld\n", atomic64_read(kp->arg));
}

static const struct kernel_param_ops qs_stat_ops = {
	.set = qs_stat_set,
	.get = qs_stat_get,
};

module_param_cb(level, &qs_level_ops, &qs_level, 0644);
MODULE_PARM_DESC(level, "zlib compression level -1..9 (default -1)");
module_param_cb(error_rate, &qs_error_rate_ops, &qs_error_rate, 0644);
MODULE_PARM_DESC(error_rate, "percentage of requests failed with -error_code");
module_param_cb(error_code, &qs_error_code_ops, &qs_error_code, 0644);
MODULE_PARM_DESC(error_code, "positive errno of injected errors (default 5)");
module_param_cb(queue_limit, &qs_uint_kick_ops, &qs_queue_limit, 0644);
MODULE_PARM_DESC(queue_limit, "ring size; beyond it backlog/-EBUSY or -ENOSPC (0: unlimited)");
module_param_cb(delay_ms, &qs_uint_kick_ops, &qs_delay_ms, 0644);
MODULE_PARM_DESC(delay_ms, "minimum latency of a request in ms");
module_param_cb(stuck, &qs_bool_kick_ops, &qs_stuck, 0644);
MODULE_PARM_DESC(stuck, "hold every request while 1");
module_param_cb(registered, &qs_registered_ops, &qs_registered, 0644);
MODULE_PARM_DESC(registered, "algorithm registered; 0 = device gone (-ENODEV)");
module_param_named(selftest, qs_selftest, bool, 0444);
MODULE_PARM_DESC(selftest, "run a self-test at load time");

#define QS_STAT_PARAM(name, desc)					\
	module_param_cb(name, &qs_stat_ops, &qs_stat.name, 0444);	\
	MODULE_PARM_DESC(name, desc)

QS_STAT_PARAM(requests, "submissions");
QS_STAT_PARAM(compressed, "successful compressions");
QS_STAT_PARAM(decompressed, "successful decompressions");
QS_STAT_PARAM(completed, "final completions of any status (incl. synchronous)");
QS_STAT_PARAM(injected_errors, "errors injected by error_rate");
QS_STAT_PARAM(e2big, "-E2BIG completions");
QS_STAT_PARAM(sg_rejects, "requests refused for a scatterlist entry");
QS_STAT_PARAM(sg_over4, "directions with more than 4 SG entries");
QS_STAT_PARAM(virt_requests, "virtual-address requests (refused)");
QS_STAT_PARAM(backlogged, "requests backlogged (-EBUSY)");
QS_STAT_PARAM(too_big, "requests with slen or dlen above 64 KiB");
QS_STAT_PARAM(in_flight, "accepted, not yet completed");
QS_STAT_PARAM(max_in_flight, "highest in_flight seen");
QS_STAT_PARAM(busy_ns, "nanoseconds spent in zlib");

/* ---- completion ---- */

/* Like QAT's response handler: callbacks run with bottom halves off. */
static void qs_notify_backlog(struct acomp_req *areq)
{
	local_bh_disable();
	acomp_request_complete(areq, -EINPROGRESS);
	local_bh_enable();
}

static void qs_complete(struct acomp_req *areq, int err)
{
	atomic64_inc(&qs_stat.completed);
	atomic64_dec(&qs_stat.in_flight);
	local_bh_disable();
	acomp_request_complete(areq, err);
	local_bh_enable();
}

/* Fails requests taken off the lists (@list linked through ->node). */
static void qs_fail_list(struct list_head *list, int err)
{
	struct qs_req *r, *tmp;

	list_for_each_entry_safe(r, tmp, list, node) {
		list_del_init(&r->node);
		if (r->backlogged)
			qs_notify_backlog(r->areq);
		qs_complete(r->areq, err);
	}
}

/* ---- the engine ---- */

static int qs_deflate(unsigned int slen, unsigned int dlen, unsigned int *out)
{
	struct z_stream_s strm = { .workspace = qs_deflate_ws };
	int ret;

	ret = zlib_deflateInit2(&strm, READ_ONCE(qs_level), Z_DEFLATED,
				-MAX_WBITS, DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		return -EINVAL;

	strm.next_in = qs_inbuf;
	strm.avail_in = slen;
	strm.next_out = qs_outbuf;
	strm.avail_out = dlen;
	ret = zlib_deflate(&strm, Z_FINISH);
	if (ret == Z_STREAM_END) {
		*out = strm.total_out;
		return 0;
	}
	/* Z_FINISH without Z_STREAM_END: the output buffer is full. */
	if (ret == Z_OK || ret == Z_BUF_ERROR)
		return -E2BIG;
	return -EINVAL;
}

static int qs_inflate(unsigned int slen, unsigned int dlen, unsigned int *out)
{
	struct z_stream_s strm = { .workspace = qs_inflate_ws };
	int ret;

	ret = zlib_inflateInit2(&strm, -MAX_WBITS);
	if (ret != Z_OK)
		return -EINVAL;

	strm.next_in = qs_inbuf;
	strm.avail_in = slen;
	strm.next_out = qs_outbuf;
	strm.avail_out = dlen;
	ret = zlib_inflate(&strm, Z_FINISH);
	switch (ret) {
	case Z_STREAM_END:
		*out = strm.total_out;
		return 0;
	case Z_OK:
	case Z_BUF_ERROR:
		/* Out of output space, or truncated input. */
		return strm.avail_out ? -EBADMSG : -E2BIG;
	case Z_MEM_ERROR:
		return -ENOMEM;
	default:
		return -EBADMSG;
	}
}

static int qs_process(struct qs_req *r)
{
	struct acomp_req *areq = r->areq;
	unsigned int rate = READ_ONCE(qs_error_rate);
	unsigned int out = 0;
	size_t copied;
	u64 start;
	int err;

	if (rate && get_random_u32_below(100) < rate) {
		atomic64_inc(&qs_stat.injected_errors);
		areq->dlen = 0;
		return -(int)READ_ONCE(qs_error_code);
	}

	copied = sg_copy_to_buffer(areq->src, r->src_nents, qs_inbuf,
				   areq->slen);
	if (copied != areq->slen) {
		areq->dlen = 0;
		return -EINVAL;
	}

	start = ktime_get_ns();
	if (r->compress)
		err = qs_deflate(areq->slen, areq->dlen, &out);
	else
		err = qs_inflate(areq->slen, areq->dlen, &out);
	atomic64_add(ktime_get_ns() - start, &qs_stat.busy_ns);

	if (err) {
		if (err == -E2BIG)
			atomic64_inc(&qs_stat.e2big);
		areq->dlen = 0;
		return err;
	}

	copied = sg_copy_from_buffer(areq->dst, r->dst_nents, qs_outbuf, out);
	if (copied != out) {
		areq->dlen = 0;
		return -EINVAL;
	}
	areq->dlen = out;
	atomic64_inc(r->compress ? &qs_stat.compressed : &qs_stat.decompressed);
	return 0;
}

/* Moves the requests of unregistered algorithms to @dead. */
static void qs_sweep_locked(struct list_head *dead)
{
	struct qs_req *r, *tmp;

	list_for_each_entry_safe(r, tmp, &qs_queue, node) {
		if (r->qa->dead) {
			list_move_tail(&r->node, dead);
			qs_ring--;
		}
	}
	list_for_each_entry_safe(r, tmp, &qs_backlog, node) {
		if (r->qa->dead)
			list_move_tail(&r->node, dead);
	}
}

/* Moves backlogged requests into the ring while it has room. */
static void qs_promote_locked(struct list_head *promoted)
{
	unsigned int limit = READ_ONCE(qs_queue_limit);
	struct qs_req *r;

	while (!list_empty(&qs_backlog) && (!limit || qs_ring < limit)) {
		r = list_first_entry(&qs_backlog, struct qs_req, node);
		list_move_tail(&r->node, &qs_queue);
		r->backlogged = false;
		qs_ring++;
		list_add_tail(&r->notify, promoted);
	}
}

/* Takes the head of the queue if it may be processed now. */
static struct qs_req *qs_next_locked(unsigned long *wait)
{
	unsigned int delay = READ_ONCE(qs_delay_ms);
	struct qs_req *r;

	if (READ_ONCE(qs_stuck) || list_empty(&qs_queue))
		return NULL;

	r = list_first_entry(&qs_queue, struct qs_req, node);
	if (delay) {
		u64 due = r->submit_ns + (u64)delay * NSEC_PER_MSEC;
		u64 now = ktime_get_ns();

		if (now < due) {
			*wait = nsecs_to_jiffies(due - now) + 1;
			return NULL;
		}
	}
	list_del_init(&r->node);
	return r;
}

static void qs_work_fn(struct work_struct *work)
{
	for (;;) {
		LIST_HEAD(promoted);
		LIST_HEAD(dead);
		struct qs_req *r = NULL, *p, *tmp;
		unsigned long wait = 0;
		bool housekeeping;
		int err;

		spin_lock_bh(&qs_lock);
		if (qs_swept_gen != qs_dead_gen) {
			qs_sweep_locked(&dead);
			qs_swept_gen = qs_dead_gen;
		}
		qs_promote_locked(&promoted);
		housekeeping = !list_empty(&dead) || !list_empty(&promoted);
		if (!housekeeping)
			r = qs_next_locked(&wait);
		spin_unlock_bh(&qs_lock);

		if (housekeeping) {
			/*
			 * Only this work item completes queued requests, so
			 * the promoted ones (still on qs_queue) stay valid.
			 */
			list_for_each_entry_safe(p, tmp, &promoted, notify) {
				list_del(&p->notify);
				qs_notify_backlog(p->areq);
			}
			qs_fail_list(&dead, -ENODEV);
			cond_resched();
			continue;
		}
		if (!r) {
			if (wait)
				queue_delayed_work(qs_wq, &qs_dwork, wait);
			return;
		}

		err = qs_process(r);

		spin_lock_bh(&qs_lock);
		qs_ring--;
		spin_unlock_bh(&qs_lock);
		qs_complete(r->areq, err);
		cond_resched();
	}
}

/* ---- submission ---- */

static bool qs_check_sg(struct scatterlist *sgl, unsigned int len,
			const char *dir, unsigned int *nents)
{
	struct scatterlist *sg = sgl;
	unsigned int i = 0;

	while (len) {
		unsigned long pfn, npages, j, off;
		struct folio *folio;
		struct page *page;

		if (!sg) {
			pr_warn_ratelimited("%s: %u entries cover only part of the request (%u bytes missing)\n",
					    dir, i, len);
			return false;
		}
		if (!sg->length) {
			pr_warn_ratelimited("%s entry %u rejected: length 0\n",
					    dir, i);
			return false;
		}
		pfn = page_to_pfn(sg_page(sg)) + (sg->offset >> PAGE_SHIFT);
		off = offset_in_page(sg->offset);
		if (!pfn_valid(pfn)) {
			pr_warn_ratelimited("%s entry %u rejected: pfn %#lx is not a valid page frame (offset %u length %u)\n",
					    dir, i, pfn, sg->offset, sg->length);
			return false;
		}
		page = pfn_to_page(pfn);
		if (PageHighMem(page) || !virt_addr_valid(page_address(page))) {
			pr_warn_ratelimited("%s entry %u rejected: pfn %#lx is not in the linear map (offset %u length %u)\n",
					    dir, i, pfn, sg->offset, sg->length);
			return false;
		}
		npages = DIV_ROUND_UP(off + sg->length, PAGE_SIZE);
		folio = page_folio(page);
		for (j = 1; j < npages; j++) {
			if (!pfn_valid(pfn + j) ||
			    page_folio(pfn_to_page(pfn + j)) != folio) {
				pr_warn_ratelimited("%s entry %u rejected: offset %u length %u spans %lu pages but page %lu (pfn %#lx) is not in the folio of pfn %#lx: QAT's dma_map_single(sg_virt()) would access the wrong memory\n",
						    dir, i, sg->offset,
						    sg->length, npages, j,
						    pfn + j, pfn);
				return false;
			}
		}
		len -= min(len, sg->length);
		i++;
		sg = sg_next(sg);
	}

	if (i > QS_INLINE_BUFS)
		atomic64_inc(&qs_stat.sg_over4);
	*nents = i;
	return true;
}

static struct qs_alg *qs_req_alg(struct acomp_req *areq)
{
	struct crypto_tfm *tfm = crypto_acomp_tfm(crypto_acomp_reqtfm(areq));

	return container_of(tfm->__crt_alg, struct qs_alg, alg.base);
}

static int qs_submit(struct acomp_req *areq, bool compress)
{
	struct qs_req *r = acomp_request_ctx(areq);
	struct qs_alg *qa = qs_req_alg(areq);
	unsigned int limit;
	int err;

	atomic64_inc(&qs_stat.requests);

	if (acomp_request_isvirt(areq)) {
		atomic64_inc(&qs_stat.virt_requests);
		pr_warn_ratelimited("virtual-address request refused\n");
		err = -EINVAL;
		goto out_sync;
	}
	if (!areq->src || !areq->slen || !areq->dst || !areq->dlen) {
		err = -EINVAL;
		goto out_sync;
	}
	if (areq->slen > QS_MAX_LEN || areq->dlen > QS_MAX_LEN) {
		atomic64_inc(&qs_stat.too_big);
		err = -EINVAL;
		goto out_sync;
	}
	if (!qs_check_sg(areq->src, areq->slen, "src", &r->src_nents) ||
	    !qs_check_sg(areq->dst, areq->dlen, "dst", &r->dst_nents)) {
		atomic64_inc(&qs_stat.sg_rejects);
		err = -EINVAL;
		goto out_sync;
	}

	INIT_LIST_HEAD(&r->notify);
	r->areq = areq;
	r->qa = qa;
	r->compress = compress;
	r->backlogged = false;
	r->submit_ns = ktime_get_ns();

	spin_lock_bh(&qs_lock);
	if (qa->dead) {
		spin_unlock_bh(&qs_lock);
		err = -ENODEV;
		goto out_sync;
	}
	limit = READ_ONCE(qs_queue_limit);
	if (!list_empty(&qs_backlog) || (limit && qs_ring >= limit)) {
		if (!(areq->base.flags & CRYPTO_TFM_REQ_MAY_BACKLOG)) {
			spin_unlock_bh(&qs_lock);
			err = -ENOSPC;
			goto out_sync;
		}
		r->backlogged = true;
		list_add_tail(&r->node, &qs_backlog);
		atomic64_inc(&qs_stat.backlogged);
		err = -EBUSY;
	} else {
		list_add_tail(&r->node, &qs_queue);
		qs_ring++;
		err = -EINPROGRESS;
	}
	/* Under qs_lock: the maximum cannot miss an increment. */
	if (atomic64_inc_return(&qs_stat.in_flight) >
	    atomic64_read(&qs_stat.max_in_flight))
		atomic64_set(&qs_stat.max_in_flight,
			     atomic64_read(&qs_stat.in_flight));
	spin_unlock_bh(&qs_lock);

	/* A tfm pins the module, so qs_wq exists. */
	queue_delayed_work(qs_wq, &qs_dwork, 0);
	return err;

out_sync:
	atomic64_inc(&qs_stat.completed);
	return err;
}

static int qs_compress(struct acomp_req *areq)
{
	return qs_submit(areq, true);
}

static int qs_decompress(struct acomp_req *areq)
{
	return qs_submit(areq, false);
}

/* ---- registration ---- */

static void qs_alg_destroy(struct crypto_alg *base)
{
	struct qs_alg *qa = container_of(base, struct qs_alg, alg.base);

	if (qa->destroyed)
		*qa->destroyed = true;
	kfree(qa);
}

static int qs_register_locked(void)
{
	bool destroyed = false;
	struct crypto_alg *base;
	struct qs_alg *qa;
	int err;

	lockdep_assert_held(&qs_mutex);
	if (qs_cur)
		return 0;

	qa = kzalloc_obj(*qa);
	if (!qa)
		return -ENOMEM;
	qa->destroyed = &destroyed;

	base = &qa->alg.base;
	strscpy(base->cra_name, "deflate");
	strscpy(base->cra_driver_name, QS_DRIVER_NAME);
	base->cra_priority = QS_PRIORITY;
	base->cra_flags = CRYPTO_ALG_ASYNC;
	base->cra_reqsize = sizeof(struct qs_req);
	base->cra_module = THIS_MODULE;
	base->cra_destroy = qs_alg_destroy;
	qa->alg.compress = qs_compress;
	qa->alg.decompress = qs_decompress;

	err = crypto_register_acomp(&qa->alg);
	if (err) {
		/* Past crypto_check_alg() a failure drops the last ref. */
		if (!destroyed)
			kfree(qa);
		pr_err("registering %s failed: %d\n", QS_DRIVER_NAME, err);
		return err;
	}
	/* Only an unregistration (under qs_mutex) can destroy it now. */
	qa->destroyed = NULL;
	qs_cur = qa;
	WRITE_ONCE(qs_registered, true);
	return 0;
}

static void qs_unregister_locked(void)
{
	struct qs_alg *qa = qs_cur;

	lockdep_assert_held(&qs_mutex);
	if (!qa)
		return;

	qs_cur = NULL;
	WRITE_ONCE(qs_registered, false);
	spin_lock_bh(&qs_lock);
	qa->dead = true;
	qs_dead_gen++;
	spin_unlock_bh(&qs_lock);

	/* Frees qa unless a tfm still holds it. */
	crypto_unregister_acomp(&qa->alg);

	if (qs_live)
		mod_delayed_work(qs_wq, &qs_dwork, 0);
}

static int qs_set_registered_state(bool on)
{
	int err = 0;

	mutex_lock(&qs_mutex);
	if (!qs_live)
		WRITE_ONCE(qs_registered, on);	/* load-time argument */
	else if (on)
		err = qs_register_locked();
	else
		qs_unregister_locked();
	mutex_unlock(&qs_mutex);
	return err;
}

/* ---- self-test ---- */

struct qs_st_wait {
	struct completion done;
	int err;
	int backlog_notes;
};

struct qs_st {
	struct crypto_acomp *tfm;
	struct acomp_req *req[3];
	struct qs_st_wait w[3];
	u8 *src;
	u8 *cmp;
	u8 *cmp2;
	u8 *out;
	unsigned int checks;
};

#define QS_ST_BUF	SZ_16K

static void qs_st_done(void *data, int err)
{
	struct qs_st_wait *w = data;

	if (err == -EINPROGRESS) {
		w->backlog_notes++;
		return;
	}
	w->err = err;
	complete(&w->done);
}

static int qs_st_start(struct acomp_req *req, struct qs_st_wait *w,
		       bool compress, u32 flags)
{
	init_completion(&w->done);
	w->err = 0;
	w->backlog_notes = 0;
	acomp_request_set_callback(req, flags, qs_st_done, w);
	return compress ? crypto_acomp_compress(req) :
			  crypto_acomp_decompress(req);
}

static int qs_st_wait(int ret, struct qs_st_wait *w)
{
	if (ret != -EINPROGRESS && ret != -EBUSY)
		return ret;
	if (!wait_for_completion_timeout(&w->done, 20 * HZ)) {
		/* The request still points at our stack: wait for good. */
		pr_err("selftest: request not completed after 20 s\n");
		wait_for_completion(&w->done);
	}
	return w->err;
}

/* One synchronous-looking operation; *dlen in: buffer size, out: result. */
static int qs_st_run(struct qs_st *st, int i, bool compress,
		     struct scatterlist *s, unsigned int slen,
		     struct scatterlist *d, unsigned int *dlen)
{
	struct acomp_req *req = st->req[i];
	int ret;

	acomp_request_set_params(req, s, d, slen, *dlen);
	ret = qs_st_start(req, &st->w[i], compress,
			  CRYPTO_TFM_REQ_MAY_BACKLOG);
	ret = qs_st_wait(ret, &st->w[i]);
	*dlen = req->dlen;
	return ret;
}

static bool qs_st_ok(struct qs_st *st, bool cond, const char *what, long got)
{
	st->checks++;
	if (!cond)
		pr_err("selftest: %s: unexpected %ld\n", what, got);
	return cond;
}

static s64 qs_st_stat(atomic64_t *v)
{
	return atomic64_read(v);
}

static void qs_st_fill_text(u8 *buf, unsigned int len)
{
	unsigned int n = 0, line = 0;

	while (n < len) {
		char tmp[64];
		int l = scnprintf(tmp, sizeof(tmp),
				  "qat_sim self-test line %u: the quick brown fox\n",
				  line++);

		l = min_t(unsigned int, l, len - n);
		memcpy(buf + n, tmp, l);
		n += l;
	}
}

/* 4 KiB text round trip through single-entry scatterlists. */
static int qs_st_basic(struct qs_st *st)
{
	struct scatterlist s, d;
	unsigned int clen = PAGE_SIZE, dlen = PAGE_SIZE;
	int ret;

	qs_st_fill_text(st->src, PAGE_SIZE);
	sg_init_one(&s, st->src, PAGE_SIZE);
	sg_init_one(&d, st->cmp, PAGE_SIZE);
	ret = qs_st_run(st, 0, true, &s, PAGE_SIZE, &d, &clen);
	if (!qs_st_ok(st, ret == 0, "4K compress", ret) ||
	    !qs_st_ok(st, clen > 0 && clen < PAGE_SIZE / 2, "4K clen", clen))
		return -EIO;

	memset(st->out, 0, PAGE_SIZE);
	sg_init_one(&s, st->cmp, clen);
	sg_init_one(&d, st->out, PAGE_SIZE);
	ret = qs_st_run(st, 0, false, &s, clen, &d, &dlen);
	if (!qs_st_ok(st, ret == 0, "4K decompress", ret) ||
	    !qs_st_ok(st, dlen == PAGE_SIZE, "4K dlen", dlen) ||
	    !qs_st_ok(st, !memcmp(st->src, st->out, PAGE_SIZE),
		      "4K compare", 0))
		return -EIO;
	pr_info("selftest: 4 KiB round trip ok (%u -> %u bytes)\n",
		(unsigned int)PAGE_SIZE, clen);
	return 0;
}

/*
 * 16 KiB of a 3000-byte random block repeated: compresses only with a
 * window above 2 KiB. Multi-page entries inside one kmalloc folio, 3 src
 * entries, then 5 dst entries (sg_over4).
 */
static int qs_st_window(struct qs_st *st)
{
	static const unsigned int split[] = { 4000, 4000, 4000, 4000, 384 };
	s64 over4 = qs_st_stat(&qs_stat.sg_over4);
	struct scatterlist s[5], d[5];
	unsigned int clen = QS_ST_BUF, dlen = QS_ST_BUF, i, pos;
	int ret;

	get_random_bytes(st->src, 3000);
	for (i = 3000; i < QS_ST_BUF; i++)
		st->src[i] = st->src[i - 3000];

	sg_init_table(s, 3);
	sg_set_buf(&s[0], st->src, 5000);
	sg_set_buf(&s[1], st->src + 5000, 7000);
	sg_set_buf(&s[2], st->src + 12000, QS_ST_BUF - 12000);
	sg_init_one(&d[0], st->cmp, QS_ST_BUF);
	ret = qs_st_run(st, 0, true, s, QS_ST_BUF, d, &clen);
	if (!qs_st_ok(st, ret == 0, "16K compress", ret) ||
	    !qs_st_ok(st, clen > 3000 && clen < 4000, "16K clen (32K window)",
		      clen))
		return -EIO;

	memset(st->out, 0, QS_ST_BUF);
	sg_init_table(d, ARRAY_SIZE(split));
	for (i = 0, pos = 0; i < ARRAY_SIZE(split); pos += split[i], i++)
		sg_set_buf(&d[i], st->out + pos, split[i]);
	sg_init_one(&s[0], st->cmp, clen);
	ret = qs_st_run(st, 0, false, s, clen, d, &dlen);
	if (!qs_st_ok(st, ret == 0, "16K decompress", ret) ||
	    !qs_st_ok(st, dlen == QS_ST_BUF, "16K dlen", dlen) ||
	    !qs_st_ok(st, !memcmp(st->src, st->out, QS_ST_BUF),
		      "16K compare", 0) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.sg_over4) == over4 + 1,
		      "sg_over4", qs_st_stat(&qs_stat.sg_over4) - over4))
		return -EIO;
	pr_info("selftest: 16 KiB / 3000-byte period ok (%u bytes: 32 KiB window), multi-entry SGs ok\n",
		clen);
	return 0;
}

/* -E2BIG, -EBADMSG, too big, SG rejects. */
static int qs_st_errors(struct qs_st *st)
{
	s64 e2big = qs_st_stat(&qs_stat.e2big);
	s64 rejects = qs_st_stat(&qs_stat.sg_rejects);
	s64 too_big = qs_st_stat(&qs_stat.too_big);
	struct scatterlist s[2], d;
	unsigned int dlen;
	void *vbuf;
	int ret;

	get_random_bytes(st->src, PAGE_SIZE);
	sg_init_one(&s[0], st->src, PAGE_SIZE);
	sg_init_one(&d, st->cmp, 1024);
	dlen = 1024;
	ret = qs_st_run(st, 0, true, s, PAGE_SIZE, &d, &dlen);
	if (!qs_st_ok(st, ret == -E2BIG, "incompressible into 1 KiB", ret) ||
	    !qs_st_ok(st, dlen == 0, "dlen after -E2BIG", dlen) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.e2big) == e2big + 1, "e2big",
		      qs_st_stat(&qs_stat.e2big) - e2big))
		return -EIO;

	memset(st->cmp, 0xff, 64);
	sg_init_one(&s[0], st->cmp, 64);
	sg_init_one(&d, st->out, PAGE_SIZE);
	dlen = PAGE_SIZE;
	ret = qs_st_run(st, 0, false, s, 64, &d, &dlen);
	if (!qs_st_ok(st, ret == -EBADMSG, "decompress garbage", ret))
		return -EIO;

	sg_init_one(&s[0], st->src, PAGE_SIZE);
	sg_init_one(&d, st->cmp, PAGE_SIZE);
	dlen = PAGE_SIZE;
	ret = qs_st_run(st, 0, true, s, QS_MAX_LEN + 1, &d, &dlen);
	if (!qs_st_ok(st, ret == -EINVAL, "slen 64 KiB + 1", ret) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.too_big) == too_big + 1,
		      "too_big", qs_st_stat(&qs_stat.too_big) - too_big))
		return -EIO;

	/* A zero-length entry. */
	sg_init_table(s, 2);
	sg_set_buf(&s[0], st->src, 0);
	sg_set_buf(&s[1], st->src, 100);
	dlen = PAGE_SIZE;
	ret = qs_st_run(st, 0, true, s, 100, &d, &dlen);
	if (!qs_st_ok(st, ret == -EINVAL, "zero-length entry", ret))
		return -EIO;

	/* One entry over two pages of a vmalloc buffer. */
	vbuf = vmalloc(2 * PAGE_SIZE);
	if (!vbuf)
		return -ENOMEM;
	memset(vbuf, 'v', 2 * PAGE_SIZE);
	sg_init_table(s, 1);
	sg_set_page(&s[0], vmalloc_to_page(vbuf), 2 * PAGE_SIZE, 0);
	sg_init_one(&d, st->cmp, PAGE_SIZE);
	dlen = PAGE_SIZE;
	ret = qs_st_run(st, 0, true, s, 2 * PAGE_SIZE, &d, &dlen);
	vfree(vbuf);
	if (!qs_st_ok(st, ret == -EINVAL, "vmalloc span", ret) ||
	    !qs_st_ok(st, !completion_done(&st->w[0].done),
		      "callback after a synchronous error", 1) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.sg_rejects) == rejects + 2,
		      "sg_rejects", qs_st_stat(&qs_stat.sg_rejects) - rejects))
		return -EIO;
	pr_info("selftest: -E2BIG, -EBADMSG, too big, zero-length and vmalloc-span rejects ok\n");
	return 0;
}

/* Virtual addresses: the acomp API hands them to us as scatterlists. */
static int qs_st_virt(struct qs_st *st)
{
	s64 virt = qs_st_stat(&qs_stat.virt_requests);
	struct acomp_req *req = st->req[0];
	int ret;

	qs_st_fill_text(st->src, PAGE_SIZE);
	acomp_request_set_params(req, NULL, NULL, 0, 0);
	acomp_request_set_src_dma(req, st->src, PAGE_SIZE);
	acomp_request_set_dst_dma(req, st->cmp, PAGE_SIZE);
	ret = qs_st_wait(qs_st_start(req, &st->w[0], true,
				     CRYPTO_TFM_REQ_MAY_BACKLOG), &st->w[0]);
	if (!qs_st_ok(st, ret == 0, "virtual-address compress", ret) ||
	    !qs_st_ok(st, req->dlen > 0 && req->dlen < PAGE_SIZE,
		      "virtual-address clen", req->dlen) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.virt_requests) == virt,
		      "virt_requests", qs_st_stat(&qs_stat.virt_requests) - virt))
		return -EIO;
	pr_info("selftest: virtual-address request ok (converted by the API)\n");
	return 0;
}

/* error_rate / error_code and delay_ms. */
static int qs_st_knobs(struct qs_st *st)
{
	s64 injected = qs_st_stat(&qs_stat.injected_errors);
	struct scatterlist s, d;
	unsigned int dlen;
	u64 start, elapsed;
	int ret;

	qs_st_fill_text(st->src, PAGE_SIZE);
	sg_init_one(&s, st->src, PAGE_SIZE);
	sg_init_one(&d, st->cmp, PAGE_SIZE);

	WRITE_ONCE(qs_error_code, ENOMEM);
	WRITE_ONCE(qs_error_rate, 100);
	dlen = PAGE_SIZE;
	ret = qs_st_run(st, 0, true, &s, PAGE_SIZE, &d, &dlen);
	WRITE_ONCE(qs_error_rate, 0);
	WRITE_ONCE(qs_error_code, EIO);
	if (!qs_st_ok(st, ret == -ENOMEM, "error_rate=100 error_code=12", ret) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.injected_errors) == injected + 1,
		      "injected_errors",
		      qs_st_stat(&qs_stat.injected_errors) - injected))
		return -EIO;

	WRITE_ONCE(qs_delay_ms, 100);
	start = ktime_get_ns();
	dlen = PAGE_SIZE;
	ret = qs_st_run(st, 0, true, &s, PAGE_SIZE, &d, &dlen);
	elapsed = ktime_get_ns() - start;
	WRITE_ONCE(qs_delay_ms, 0);
	if (!qs_st_ok(st, ret == 0, "delay_ms=100 compress", ret) ||
	    !qs_st_ok(st, elapsed >= 100 * NSEC_PER_MSEC, "delay (ns)",
		      elapsed))
		return -EIO;
	pr_info("selftest: error injection ok, delay_ms=100 took %llu ms\n",
		elapsed / NSEC_PER_MSEC);
	return 0;
}

/* stuck + queue_limit=1: -EINPROGRESS, backlog -EBUSY, -ENOSPC. */
static int qs_st_backlog(struct qs_st *st)
{
	s64 backlogged = qs_st_stat(&qs_stat.backlogged);
	s64 in_flight = qs_st_stat(&qs_stat.in_flight);
	struct scatterlist s, d[3];
	u8 *dst[3] = { st->cmp, st->cmp2, st->out };
	int ret0, ret1, ret2, i;
	bool ok;

	qs_st_fill_text(st->src, PAGE_SIZE);
	sg_init_one(&s, st->src, PAGE_SIZE);
	for (i = 0; i < 3; i++) {
		sg_init_one(&d[i], dst[i], PAGE_SIZE);
		acomp_request_set_params(st->req[i], &s, &d[i], PAGE_SIZE,
					 PAGE_SIZE);
	}

	WRITE_ONCE(qs_stuck, true);
	WRITE_ONCE(qs_queue_limit, 1);
	ret0 = qs_st_start(st->req[0], &st->w[0], true,
			   CRYPTO_TFM_REQ_MAY_BACKLOG);
	ret1 = qs_st_start(st->req[1], &st->w[1], true,
			   CRYPTO_TFM_REQ_MAY_BACKLOG);
	ret2 = qs_st_start(st->req[2], &st->w[2], true, 0);
	ok = qs_st_ok(st, ret0 == -EINPROGRESS, "first request", ret0);
	ok &= qs_st_ok(st, ret1 == -EBUSY, "second request (backlog)", ret1);
	ok &= qs_st_ok(st, ret2 == -ENOSPC, "third request (no backlog)",
		       ret2);
	ok &= qs_st_ok(st, qs_st_stat(&qs_stat.in_flight) == in_flight + 2,
		       "in_flight while stuck",
		       qs_st_stat(&qs_stat.in_flight) - in_flight);
	ok &= qs_st_ok(st, qs_st_stat(&qs_stat.backlogged) == backlogged + 1,
		       "backlogged",
		       qs_st_stat(&qs_stat.backlogged) - backlogged);
	msleep(50);
	ok &= qs_st_ok(st, !completion_done(&st->w[0].done),
		       "completed while stuck", 1);

	WRITE_ONCE(qs_stuck, false);
	qs_kick();
	ret0 = qs_st_wait(ret0, &st->w[0]);
	ret1 = qs_st_wait(ret1, &st->w[1]);
	ret2 = qs_st_wait(ret2, &st->w[2]);
	WRITE_ONCE(qs_queue_limit, 0);
	if (!ok ||
	    !qs_st_ok(st, ret0 == 0, "first request result", ret0) ||
	    !qs_st_ok(st, ret1 == 0, "backlogged request result", ret1) ||
	    !qs_st_ok(st, st->w[1].backlog_notes == 1,
		      "-EINPROGRESS notifications", st->w[1].backlog_notes) ||
	    !qs_st_ok(st, st->w[0].backlog_notes == 0,
		      "-EINPROGRESS on a queued request",
		      st->w[0].backlog_notes) ||
	    !qs_st_ok(st, st->req[0]->dlen == st->req[1]->dlen &&
		      !memcmp(st->cmp, st->cmp2, st->req[0]->dlen),
		      "same output", st->req[1]->dlen) ||
	    !qs_st_ok(st, qs_st_stat(&qs_stat.in_flight) == in_flight,
		      "in_flight after", qs_st_stat(&qs_stat.in_flight) -
		      in_flight))
		return -EIO;
	pr_info("selftest: stuck, queue_limit, backlog (-EBUSY then -EINPROGRESS) and -ENOSPC ok\n");
	return 0;
}

static int qs_st_roundtrip_tfm(struct qs_st *st, struct crypto_acomp *tfm)
{
	struct scatterlist s, d;
	struct acomp_req *req;
	struct qs_st_wait w;
	int ret;

	req = acomp_request_alloc(tfm, GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	qs_st_fill_text(st->src, PAGE_SIZE);
	sg_init_one(&s, st->src, PAGE_SIZE);
	sg_init_one(&d, st->cmp2, PAGE_SIZE);
	acomp_request_set_params(req, &s, &d, PAGE_SIZE, PAGE_SIZE);
	ret = qs_st_wait(qs_st_start(req, &w, true, 0), &w);
	acomp_request_free(req);
	return ret;
}

/* registered=0 with a live tfm and a held request, then registered=1. */
static int qs_st_unregister(struct qs_st *st)
{
	struct crypto_acomp *tfm;
	struct scatterlist s, d;
	int ret0, ret1;
	bool ok;

	qs_st_fill_text(st->src, PAGE_SIZE);
	sg_init_one(&s, st->src, PAGE_SIZE);
	sg_init_one(&d, st->cmp, PAGE_SIZE);
	acomp_request_set_params(st->req[0], &s, &d, PAGE_SIZE, PAGE_SIZE);
	acomp_request_set_params(st->req[1], &s, &d, PAGE_SIZE, PAGE_SIZE);

	WRITE_ONCE(qs_stuck, true);
	ret0 = qs_st_start(st->req[0], &st->w[0], true,
			   CRYPTO_TFM_REQ_MAY_BACKLOG);
	qs_st_ok(st, ret0 == -EINPROGRESS, "request before unregister", ret0);

	qs_set_registered_state(false);
	ret0 = qs_st_wait(ret0, &st->w[0]);
	ret1 = qs_st_start(st->req[1], &st->w[1], true,
			   CRYPTO_TFM_REQ_MAY_BACKLOG);
	WRITE_ONCE(qs_stuck, false);
	qs_kick();
	ret1 = qs_st_wait(ret1, &st->w[1]);
	if (!qs_st_ok(st, ret0 == -ENODEV, "held request after unregister",
		      ret0) ||
	    !qs_st_ok(st, ret1 == -ENODEV, "request on an old tfm", ret1))
		return -EIO;

	tfm = crypto_alloc_acomp("deflate", 0, 0);
	if (!qs_st_ok(st, !IS_ERR(tfm), "deflate after unregister",
		      PTR_ERR_OR_ZERO(tfm)))
		return -EIO;
	pr_info("selftest: unregistered: \"deflate\" is now %s\n",
		crypto_acomp_driver_name(tfm));
	ok = qs_st_ok(st, strcmp(crypto_acomp_driver_name(tfm), QS_DRIVER_NAME),
		      "deflate still resolves to " QS_DRIVER_NAME, 0);
	crypto_free_acomp(tfm);
	if (!ok)
		return -EIO;

	ret0 = qs_set_registered_state(true);
	if (!qs_st_ok(st, ret0 == 0, "register again", ret0))
		return -EIO;
	tfm = crypto_alloc_acomp("deflate", 0, 0);
	if (!qs_st_ok(st, !IS_ERR(tfm), "deflate after register",
		      PTR_ERR_OR_ZERO(tfm)))
		return -EIO;
	pr_info("selftest: registered again: \"deflate\" is now %s\n",
		crypto_acomp_driver_name(tfm));
	crypto_free_acomp(tfm);

	tfm = crypto_alloc_acomp(QS_DRIVER_NAME, 0, 0);
	if (!qs_st_ok(st, !IS_ERR(tfm), "new registration",
		      PTR_ERR_OR_ZERO(tfm)))
		return -EIO;
	ret0 = qs_st_roundtrip_tfm(st, tfm);
	crypto_free_acomp(tfm);
	ret1 = qs_st_wait(qs_st_start(st->req[1], &st->w[1], true, 0),
			  &st->w[1]);
	if (!qs_st_ok(st, ret0 == 0, "compress on the new registration",
		      ret0) ||
	    !qs_st_ok(st, ret1 == -ENODEV, "old tfm after register", ret1))
		return -EIO;
	pr_info("selftest: unregister (-ENODEV for held and new requests) and register again ok\n");
	return 0;
}

static int qs_run_selftest(void)
{
	struct qs_st *st;
	int ret = -ENOMEM, i;

	st = kzalloc_obj(*st);
	if (!st)
		return -ENOMEM;
	st->src = kmalloc(QS_ST_BUF, GFP_KERNEL);
	st->cmp = kmalloc(QS_ST_BUF, GFP_KERNEL);
	st->cmp2 = kmalloc(QS_ST_BUF, GFP_KERNEL);
	st->out = kmalloc(QS_ST_BUF, GFP_KERNEL);
	if (!st->src || !st->cmp || !st->cmp2 || !st->out)
		goto out;

	st->tfm = crypto_alloc_acomp(QS_DRIVER_NAME, 0, 0);
	if (IS_ERR(st->tfm)) {
		ret = PTR_ERR(st->tfm);
		st->tfm = NULL;
		pr_err("selftest: allocating %s: %d\n", QS_DRIVER_NAME, ret);
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(st->req); i++) {
		st->req[i] = acomp_request_alloc(st->tfm, GFP_KERNEL);
		if (!st->req[i])
			goto out;
	}
	ret = -EIO;
	if (!qs_st_ok(st, acomp_is_async(st->tfm), "async tfm", 0))
		goto out;

	ret = qs_st_basic(st);
	if (!ret)
		ret = qs_st_window(st);
	if (!ret)
		ret = qs_st_errors(st);
	if (!ret)
		ret = qs_st_virt(st);
	if (!ret)
		ret = qs_st_knobs(st);
	if (!ret)
		ret = qs_st_backlog(st);
	if (!ret)
		ret = qs_st_unregister(st);

out:
	for (i = 0; i < ARRAY_SIZE(st->req); i++)
		acomp_request_free(st->req[i]);
	if (st->tfm)
		crypto_free_acomp(st->tfm);
	if (!ret && !qs_st_ok(st, qs_st_stat(&qs_stat.in_flight) == 0 &&
			      qs_st_stat(&qs_stat.requests) ==
			      qs_st_stat(&qs_stat.completed),
			      "requests == completed",
			      qs_st_stat(&qs_stat.requests) -
			      qs_st_stat(&qs_stat.completed)))
		ret = -EIO;
	if (ret)
		pr_err("selftest FAILED (%d) after %u checks\n", ret,
		       st->checks);
	else
		pr_info("selftest passed (%u checks)\n", st->checks);
	kfree(st->src);
	kfree(st->cmp);
	kfree(st->cmp2);
	kfree(st->out);
	kfree(st);
	return ret;
}

static int qs_selftest_with_defaults(void)
{
	int level = READ_ONCE(qs_level);
	unsigned int rate = READ_ONCE(qs_error_rate);
	unsigned int code = READ_ONCE(qs_error_code);
	unsigned int limit = READ_ONCE(qs_queue_limit);
	unsigned int delay = READ_ONCE(qs_delay_ms);
	bool stuck = READ_ONCE(qs_stuck);
	int ret;

	WRITE_ONCE(qs_level, Z_DEFAULT_COMPRESSION);
	WRITE_ONCE(qs_error_rate, 0);
	WRITE_ONCE(qs_error_code, EIO);
	WRITE_ONCE(qs_queue_limit, 0);
	WRITE_ONCE(qs_delay_ms, 0);
	WRITE_ONCE(qs_stuck, false);
	ret = qs_run_selftest();
	WRITE_ONCE(qs_level, level);
	WRITE_ONCE(qs_error_rate, rate);
	WRITE_ONCE(qs_error_code, code);
	WRITE_ONCE(qs_queue_limit, limit);
	WRITE_ONCE(qs_delay_ms, delay);
	WRITE_ONCE(qs_stuck, stuck);
	qs_kick();
	return ret;
}

/* ---- module ---- */

static void qs_free_resources(void)
{
	vfree(qs_deflate_ws);
	vfree(qs_inflate_ws);
	vfree(qs_inbuf);
	vfree(qs_outbuf);
	qs_deflate_ws = NULL;
	qs_inflate_ws = NULL;
	qs_inbuf = NULL;
	qs_outbuf = NULL;
}

/* Stops the engine and fails whatever is left with -ENODEV. */
static void qs_shutdown(void)
{
	LIST_HEAD(left);

	mutex_lock(&qs_mutex);
	qs_unregister_locked();
	qs_live = false;
	mutex_unlock(&qs_mutex);

	cancel_delayed_work_sync(&qs_dwork);

	spin_lock_bh(&qs_lock);
	list_splice_init(&qs_queue, &left);
	list_splice_tail_init(&qs_backlog, &left);
	qs_ring = 0;
	spin_unlock_bh(&qs_lock);
	qs_fail_list(&left, -ENODEV);

	destroy_workqueue(qs_wq);
	qs_wq = NULL;
}

static int __init qs_init(void)
{
	bool want_registered;
	int err = -ENOMEM;

	qs_deflate_ws = vzalloc(zlib_deflate_workspacesize(-MAX_WBITS,
							   DEF_MEM_LEVEL));
	qs_inflate_ws = vzalloc(zlib_inflate_workspacesize());
	qs_inbuf = vmalloc(QS_MAX_LEN);
	qs_outbuf = vmalloc(QS_MAX_LEN);
	if (!qs_deflate_ws || !qs_inflate_ws || !qs_inbuf || !qs_outbuf)
		goto err_free;

	qs_wq = alloc_workqueue("qat_sim", WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
	if (!qs_wq)
		goto err_free;

	mutex_lock(&qs_mutex);
	want_registered = qs_registered;
	qs_registered = false;
	qs_live = true;
	err = want_registered ? qs_register_locked() : 0;
	mutex_unlock(&qs_mutex);
	if (err)
		goto err_shutdown;

	if (qs_selftest) {
		if (READ_ONCE(qs_registered)) {
			err = qs_selftest_with_defaults();
			if (err) {
				err = -EIO;
				goto err_shutdown;
			}
		} else {
			pr_info("selftest skipped: registered=0\n");
		}
	}

	pr_info("loaded: %s %s, priority %d\n", QS_DRIVER_NAME,
		READ_ONCE(qs_registered) ? "registered" : "not registered",
		QS_PRIORITY);
	return 0;

err_shutdown:
	qs_shutdown();
err_free:
	if (qs_wq)
		destroy_workqueue(qs_wq);
	qs_wq = NULL;
	qs_free_resources();
	return err;
}

static void __exit qs_exit(void)
{
	qs_shutdown();
	qs_free_resources();
	pr_info("unloaded\n");
}

module_init(qs_init);
module_exit(qs_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Test-only simulator of Intel QAT's qat_deflate acomp algorithm");
