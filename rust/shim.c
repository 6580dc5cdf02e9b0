// SPDX-License-Identifier: GPL-2.0
/*
 * C wrappers for static inline kernel helpers; see shim.h.
 * Compiled into each module that links the kstor abstraction layer.
 */
#include <crypto/acompress.h>
#include <linux/bio.h>
#include <linux/completion.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/crypto.h>
#include <linux/err.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/task_stack.h>
#include <linux/scatterlist.h>
#include <linux/vmalloc.h>
#include <linux/unaligned.h>
#include <crypto/sha2.h>
#include <linux/blk_types.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/workqueue.h>
#include "persistent-data/dm-block-manager.h"
#include "persistent-data/dm-space-map.h"
#include "persistent-data/dm-space-map-disk.h"
#include "persistent-data/dm-transaction-manager.h"
#include <linux/delay.h>
#include <linux/eventfd.h>
#include <linux/falloc.h>
#include <linux/ioprio.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched/vhost_task.h>
#include <linux/sizes.h>
#include <linux/uio.h>
#include "shim.h"

void kstor_bio_set_dev(struct bio *bio, struct block_device *bdev)
{
	bio_set_dev(bio, bdev);
}

bool kstor_bio_next_segment(struct bio *bio, struct bvec_iter *iter,
			    struct bio_vec *bv)
{
	/* Discard, secure erase and write zeroes carry a size but no data. */
	if (!iter->bi_size || bio_no_advance_iter(bio))
		return false;
	*bv = bio_iter_iovec(bio, *iter);
	bio_advance_iter_single(bio, iter, bv->bv_len);
	return true;
}

struct bio *kstor_bio_alloc(unsigned short nr_vecs, blk_opf_t opf, gfp_t gfp)
{
	return bio_alloc(NULL, nr_vecs, opf, gfp);
}

void kstor_memcpy_from_page(void *to, struct page *page, size_t offset,
			    size_t len)
{
	memcpy_from_page(to, page, offset, len);
}

void kstor_memcpy_to_page(struct page *page, size_t offset, const void *from,
			  size_t len)
{
	memcpy_to_page(page, offset, from, len);
}

sector_t kstor_bdev_nr_sectors(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}

unsigned int kstor_bdev_logical_block_size(struct block_device *bdev)
{
	return bdev_logical_block_size(bdev);
}

void kstor_dm_target_set_discards_supported(struct dm_target *ti, bool on)
{
	ti->discards_supported = on;
}

void kstor_dm_target_set_flush_supported(struct dm_target *ti, bool on)
{
	ti->flush_supported = on;
}

struct page *kstor_virt_to_page(const void *addr)
{
	/* The DMA API forbids stack buffers, vmapped or not. */
	if (object_is_on_stack(addr))
		return NULL;
	if (is_vmalloc_or_module_addr(addr))
		return vmalloc_to_page(addr);
	if (virt_addr_valid(addr))
		return virt_to_page(addr);
	return NULL;
}

void kstor_sg_set_page(struct scatterlist *sg, struct page *page,
		       unsigned int len, unsigned int offset)
{
	sg_set_page(sg, page, len, offset);
}

void kstor_sg_mark_end(struct scatterlist *sg)
{
	sg_mark_end(sg);
}

struct page *kstor_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

struct crypto_acomp *kstor_acomp_alloc(const char *alg, bool sync_only,
				       int *err)
{
	struct crypto_acomp *tfm =
		crypto_alloc_acomp(alg, 0, sync_only ? CRYPTO_ALG_ASYNC : 0);

	if (IS_ERR(tfm)) {
		*err = PTR_ERR(tfm);
		return NULL;
	}
	*err = 0;
	return tfm;
}

void kstor_acomp_free(struct crypto_acomp *tfm)
{
	crypto_free_acomp(tfm);
}

const char *kstor_acomp_driver_name(struct crypto_acomp *tfm)
{
	return crypto_acomp_driver_name(tfm);
}

bool kstor_acomp_is_async(struct crypto_acomp *tfm)
{
	return acomp_is_async(tfm);
}

struct kstor_acomp_wait {
	struct completion done;
	int err;
};

struct kstor_acomp_wait *kstor_acomp_wait_alloc(gfp_t gfp)
{
	struct kstor_acomp_wait *w = kmalloc(sizeof(*w), gfp);

	if (w) {
		init_completion(&w->done);
		w->err = 0;
	}
	return w;
}

void kstor_acomp_wait_free(struct kstor_acomp_wait *w)
{
	kfree(w);
}

/*
 * The completion callback. Drivers call it from softirq (QAT) or process
 * context; it only records the result and wakes the waiter, never sleeps.
 * -EINPROGRESS means a backlogged request entered the driver's queue: the
 * final call comes later (crypto_req_done() does the same).
 */
static void kstor_acomp_done(void *data, int err)
{
	struct kstor_acomp_wait *w = data;

	if (err == -EINPROGRESS)
		return;
	WRITE_ONCE(w->err, err);
	complete(&w->done);
}

int kstor_acomp_submit(struct acomp_req *req, bool compress,
		       struct scatterlist *src, unsigned int slen,
		       struct scatterlist *dst, unsigned int dlen,
		       struct kstor_acomp_wait *w)
{
	int err;

	reinit_completion(&w->done);
	w->err = 0;
	acomp_request_set_params(req, src, dst, slen, dlen);
	acomp_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG,
				   kstor_acomp_done, w);
	err = compress ? crypto_acomp_compress(req) :
			 crypto_acomp_decompress(req);
	/* With MAY_BACKLOG, -EBUSY means queued on the backlog. */
	if (err == -EBUSY)
		err = -EINPROGRESS;
	return err;
}

bool kstor_acomp_wait_timeout(struct kstor_acomp_wait *w, unsigned int ms)
{
	if (!ms)
		return try_wait_for_completion(&w->done);
	return wait_for_completion_timeout(&w->done, msecs_to_jiffies(ms)) != 0;
}

int kstor_acomp_wait_err(struct kstor_acomp_wait *w)
{
	return READ_ONCE(w->err);
}

unsigned int kstor_acomp_req_dlen(struct acomp_req *req)
{
	return req->dlen;
}

struct acomp_req *kstor_acomp_request_alloc(struct crypto_acomp *tfm,
					    gfp_t gfp)
{
	return acomp_request_alloc(tfm, gfp);
}

/*
 * After its completion fired, the request may still be read by the driver
 * that completed it: qat_comp_alg_callback() calls qat_alg_send_backlog()
 * with a pointer taken from the request after acomp_request_complete().
 * Drivers complete from softirq or with bottom halves disabled, an RCU
 * read-side section, so free the request after a grace period.
 */
void kstor_acomp_request_free_deferred(struct acomp_req *req)
{
	if (req)
		kvfree_rcu_mightsleep(req);
}

/*
 * A request that never completed is leaked with its completion callback,
 * which is code of this module: keep the module loaded for good.
 */
void kstor_module_pin(void)
{
	__module_get(THIS_MODULE);
}

int kstor_acomp_run_sync(struct acomp_req *req, bool compress,
			 struct scatterlist *src, unsigned int slen,
			 struct scatterlist *dst, unsigned int *dlen)
{
	DECLARE_CRYPTO_WAIT(wait);
	unsigned int noio;
	int err;

	/*
	 * Drivers allocate with GFP_KERNEL under MAY_SLEEP: keep reclaim from
	 * issuing I/O, which could come back to the device we serve.
	 */
	noio = memalloc_noio_save();
	acomp_request_set_params(req, src, dst, slen, *dlen);
	acomp_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG |
					CRYPTO_TFM_REQ_MAY_SLEEP,
				   crypto_req_done, &wait);
	err = crypto_wait_req(compress ? crypto_acomp_compress(req) :
					 crypto_acomp_decompress(req), &wait);
	memalloc_noio_restore(noio);
	if (!err)
		*dlen = req->dlen;
	return err;
}

void kstor_dm_target_set_max_discard_granularity(struct dm_target *ti, bool on)
{
	ti->max_discard_granularity = on;
}

void kstor_limits_set_discard(struct queue_limits *lim, unsigned int granularity,
			      unsigned int max_sectors)
{
	lim->discard_granularity = granularity;
	lim->max_hw_discard_sectors = max_sectors;
	lim->max_discard_sectors = max_sectors;
}

struct file *kstor_dm_dev_get_file(struct dm_dev *dev)
{
	return get_file(dev->bdev_file);
}

struct block_device *kstor_file_bdev(struct file *file)
{
	return file_bdev(file);
}

void kstor_fput(struct file *file)
{
	fput(file);
}

int kstor_sync_rw(struct block_device *bdev, blk_opf_t opf, sector_t sector,
		  void *buf, unsigned int len)
{
	struct bio_vec bvec;
	struct bio bio;
	struct page *page;
	int err;

	if (!len || offset_in_page(buf) + len > PAGE_SIZE)
		return -EINVAL;
	page = kstor_virt_to_page(buf);
	if (!page)
		return -EINVAL;
	bio_init(&bio, bdev, &bvec, 1, opf);
	bio.bi_iter.bi_sector = sector;
	__bio_add_page(&bio, page, len, offset_in_page(buf));
	err = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return err;
}

int kstor_discard(struct block_device *bdev, sector_t sector, sector_t nr)
{
	return blkdev_issue_discard(bdev, sector, nr, GFP_NOIO);
}

int kstor_aio_submit(struct block_device *bdev, blk_opf_t opf, sector_t sector,
		     void *const *bufs, unsigned int nr,
		     void (*end_io)(struct bio *), void *private)
{
	struct page *pages[32];
	struct bio *bio;
	unsigned int i;

	/* Checked before anything is allocated: nothing to undo. */
	if (!nr || nr > ARRAY_SIZE(pages))
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		if (offset_in_page(bufs[i]))
			return -EINVAL;
		pages[i] = kstor_virt_to_page(bufs[i]);
		if (!pages[i])
			return -EINVAL;
	}
	/* GFP_NOIO from a mempool: waits, never fails. */
	bio = bio_alloc(bdev, nr, opf, GFP_NOIO);
	for (i = 0; i < nr; i++)
		__bio_add_page(bio, pages[i], PAGE_SIZE, 0);
	bio->bi_iter.bi_sector = sector;
	bio->bi_end_io = end_io;
	bio->bi_private = private;
	submit_bio(bio);
	return 0;
}

void *kstor_bio_private(struct bio *bio)
{
	return bio->bi_private;
}

u8 kstor_bio_status(struct bio *bio)
{
	return bio->bi_status;
}

void kstor_bio_list_add(struct bio_list *bl, struct bio *bio)
{
	bio_list_add(bl, bio);
}

struct bio *kstor_bio_list_pop(struct bio_list *bl)
{
	return bio_list_pop(bl);
}

struct workqueue_struct *kstor_alloc_wq(const char *name)
{
	return alloc_workqueue("%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0, name);
}

void kstor_sm_destroy(struct dm_space_map *sm)
{
	dm_sm_destroy(sm);
}

int kstor_sm_extend(struct dm_space_map *sm, u64 extra)
{
	return dm_sm_extend(sm, extra);
}

int kstor_sm_get_nr_blocks(struct dm_space_map *sm, u64 *count)
{
	dm_block_t c;
	int r = dm_sm_get_nr_blocks(sm, &c);

	*count = c;
	return r;
}

int kstor_sm_get_nr_free(struct dm_space_map *sm, u64 *count)
{
	dm_block_t c;
	int r = dm_sm_get_nr_free(sm, &c);

	*count = c;
	return r;
}

int kstor_sm_get_count(struct dm_space_map *sm, u64 b, u32 *result)
{
	return dm_sm_get_count(sm, b, result);
}

int kstor_sm_commit(struct dm_space_map *sm)
{
	return dm_sm_commit(sm);
}

int kstor_sm_inc_blocks(struct dm_space_map *sm, u64 b, u64 e)
{
	return dm_sm_inc_blocks(sm, b, e);
}

int kstor_sm_dec_blocks(struct dm_space_map *sm, u64 b, u64 e)
{
	return dm_sm_dec_blocks(sm, b, e);
}

int kstor_sm_new_block(struct dm_space_map *sm, u64 *b)
{
	dm_block_t nb;
	int r = dm_sm_new_block(sm, &nb);

	*b = nb;
	return r;
}

int kstor_sm_root_size(struct dm_space_map *sm, size_t *result)
{
	return dm_sm_root_size(sm, result);
}

int kstor_sm_copy_root(struct dm_space_map *sm, void *dst, size_t len)
{
	return dm_sm_copy_root(sm, dst, len);
}

struct dm_space_map *kstor_sm_disk_create(struct dm_transaction_manager *tm,
					  u64 nr_blocks, int *err)
{
	struct dm_space_map *sm = dm_sm_disk_create(tm, nr_blocks);

	if (IS_ERR(sm)) {
		*err = PTR_ERR(sm);
		return NULL;
	}
	*err = 0;
	return sm;
}

struct dm_space_map *kstor_sm_disk_open(struct dm_transaction_manager *tm,
					void *root, size_t len, int *err)
{
	struct dm_space_map *sm = dm_sm_disk_open(tm, root, len);

	if (IS_ERR(sm)) {
		*err = PTR_ERR(sm);
		return NULL;
	}
	*err = 0;
	return sm;
}

struct dm_block_manager *kstor_bm_create(struct block_device *bdev, int *err)
{
	/* dm-thin holds at most 16 blocks per thread (THIN_MAX_CONCURRENT_LOCKS). */
	struct dm_block_manager *bm = dm_block_manager_create(bdev, 4096, 16);

	if (IS_ERR(bm)) {
		*err = PTR_ERR(bm);
		return NULL;
	}
	*err = 0;
	return bm;
}

#define KSTOR_SB_CSUM_XOR 160774U

static void kstor_sb_prepare_for_write(const struct dm_block_validator *v,
				       struct dm_block *b, size_t block_size)
{
	u8 *d = dm_block_data(b);

	put_unaligned_le64(dm_block_location(b), d + 8);
	put_unaligned_le32(dm_bm_checksum(d + 4, block_size - 4,
					  KSTOR_SB_CSUM_XOR), d);
}

static int kstor_sb_check(const struct dm_block_validator *v,
			  struct dm_block *b, size_t block_size)
{
	u8 *d = dm_block_data(b);

	if (get_unaligned_le64(d + 8) != dm_block_location(b))
		return -ENOTBLK;
	if (get_unaligned_le32(d) !=
	    dm_bm_checksum(d + 4, block_size - 4, KSTOR_SB_CSUM_XOR))
		return -EILSEQ;
	return 0;
}

const struct dm_block_validator kstor_sb_validator = {
	.name = "kstor_superblock",
	.prepare_for_write = kstor_sb_prepare_for_write,
	.check = kstor_sb_check,
};

void *kstor_block_data(struct dm_block *b)
{
	return dm_block_data(b);
}

void kstor_collect_dec(void *context, const void *value, unsigned int count)
{
	struct kstor_collect *c = context;
	const u8 *v = value;
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (c->len >= c->cap) {
			c->overflow = true;
			return;
		}
		c->vals[c->len++] = get_unaligned_le64(v + 8 * i);
	}
}

void kstor_sha256(const u8 *data, size_t len, u8 *out)
{
	sha256(data, len, out);
}

unsigned int kstor_noio_save(void)
{
	return memalloc_noio_save();
}

void kstor_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

/*
 * nvme_vhost support.
 *
 * A kstor_waker is the meeting point of one controller's worker task and
 * everything that wakes it: doorbell ioctls, doorbell eventfds (kickfd)
 * and finished I/O (kio). Finished kios go on a lock-free list that only
 * the owner of the controller pops (under its lock).
 *
 * Lifetimes: the task pointer is RCU protected; every wakeup path runs
 * under rcu_read_lock(), and kstor_waker_stop() clears the pointer and
 * waits for a grace period before vhost_task_stop() frees the task. A kio
 * callback touches the kio only before llist_add(); the kio is freed by
 * its owner only after popping it (and flushing its work item).
 */
struct kstor_waker {
	struct vhost_task __rcu *vtsk;
	atomic_t has_pool;
	atomic_t has_task;
	atomic_t kick;
	atomic64_t fd_kicks;
	struct llist_head done;
	struct llist_node *batch;
};

struct kstor_waker *kstor_waker_alloc(void)
{
	struct kstor_waker *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (w)
		init_llist_head(&w->done);
	return w;
}

void kstor_waker_free(struct kstor_waker *w)
{
	/* A kio completion may still be in kstor_waker_kick() (under RCU). */
	synchronize_rcu();
	kfree(w);
}

bool kstor_waker_claim_pool(struct kstor_waker *w)
{
	return atomic_xchg(&w->has_pool, 1) == 0;
}

void kstor_waker_kick(struct kstor_waker *w)
{
	struct vhost_task *t;

	atomic_set(&w->kick, 1);
	smp_mb__after_atomic();
	rcu_read_lock();
	t = rcu_dereference(w->vtsk);
	if (t)
		vhost_task_wake(t);
	rcu_read_unlock();
}

bool kstor_waker_take(struct kstor_waker *w)
{
	return atomic_xchg(&w->kick, 0) != 0;
}

u64 kstor_waker_fd_kicks(struct kstor_waker *w)
{
	return atomic64_xchg(&w->fd_kicks, 0);
}

int kstor_waker_start(struct kstor_waker *w, bool (*fn)(void *),
		      void (*kill)(void *), void *arg, const char *name)
{
	struct vhost_task *t;

	if (atomic_xchg(&w->has_task, 1))
		return -EBUSY;
	t = vhost_task_create(fn, kill, arg, name);
	if (IS_ERR(t)) {
		atomic_set(&w->has_task, 0);
		return PTR_ERR(t);
	}
	rcu_assign_pointer(w->vtsk, t);
	vhost_task_start(t);
	return 0;
}

void kstor_waker_stop(struct kstor_waker *w)
{
	struct vhost_task *t = rcu_dereference_protected(w->vtsk, true);

	if (!t)
		return;
	RCU_INIT_POINTER(w->vtsk, NULL);
	synchronize_rcu();
	vhost_task_stop(t);
}

void kstor_set_current_interruptible(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
}

void kstor_set_current_running(void)
{
	__set_current_state(TASK_RUNNING);
}

void kstor_cond_resched(void)
{
	cond_resched();
}

void kstor_msleep(unsigned int ms)
{
	msleep(ms);
}

struct mm_struct *kstor_current_mm_grab(void)
{
	struct mm_struct *mm = current->mm;

	if (mm)
		mmgrab(mm);
	return mm;
}

bool kstor_current_mm_is(const struct mm_struct *mm)
{
	return current->mm == mm;
}

void kstor_mm_drop(struct mm_struct *mm)
{
	mmdrop(mm);
}

struct eventfd_ctx *kstor_eventfd_get(int fd, int *err)
{
	struct eventfd_ctx *ctx = eventfd_ctx_fdget(fd);

	if (IS_ERR(ctx)) {
		*err = PTR_ERR(ctx);
		return NULL;
	}
	return ctx;
}

void kstor_eventfd_signal(struct eventfd_ctx *ctx)
{
	eventfd_signal(ctx);
}

void kstor_eventfd_put(struct eventfd_ctx *ctx)
{
	eventfd_ctx_put(ctx);
}

/* A doorbell eventfd: its signals kick a waker (as KVM's irqfd wakeup). */
struct kstor_kickfd {
	wait_queue_entry_t wait;
	poll_table pt;
	wait_queue_head_t *wqh;
	struct file *file;
	struct eventfd_ctx *ctx;
	struct kstor_waker *w;
};

static int kstor_kickfd_wake(wait_queue_entry_t *wait, unsigned int mode,
			     int sync, void *key)
{
	struct kstor_kickfd *k = container_of(wait, struct kstor_kickfd, wait);
	__u64 cnt;

	if (key_to_poll(key) & EPOLLIN) {
		/* Called with the eventfd's wqh lock held. */
		eventfd_ctx_do_read(k->ctx, &cnt);
		atomic64_inc(&k->w->fd_kicks);
		kstor_waker_kick(k->w);
	}
	return 0;
}

static void kstor_kickfd_queue(struct file *file, wait_queue_head_t *wqh,
			       poll_table *pt)
{
	struct kstor_kickfd *k = container_of(pt, struct kstor_kickfd, pt);

	k->wqh = wqh;
	add_wait_queue(wqh, &k->wait);
}

struct kstor_kickfd *kstor_kickfd_new(int fd, struct kstor_waker *w, int *err)
{
	struct kstor_kickfd *k = kzalloc(sizeof(*k), GFP_KERNEL);
	__poll_t events;

	if (!k) {
		*err = -ENOMEM;
		return NULL;
	}
	k->file = eventfd_fget(fd);
	if (IS_ERR(k->file)) {
		*err = PTR_ERR(k->file);
		kfree(k);
		return NULL;
	}
	k->ctx = eventfd_ctx_fileget(k->file);
	if (IS_ERR(k->ctx)) {
		*err = PTR_ERR(k->ctx);
		fput(k->file);
		kfree(k);
		return NULL;
	}
	k->w = w;
	init_waitqueue_func_entry(&k->wait, kstor_kickfd_wake);
	init_poll_funcptr(&k->pt, kstor_kickfd_queue);
	events = vfs_poll(k->file, &k->pt);
	if (events & EPOLLIN)
		kstor_waker_kick(w);
	return k;
}

void kstor_kickfd_free(struct kstor_kickfd *k)
{
	__u64 cnt;

	if (k->wqh)
		eventfd_ctx_remove_wait_queue(k->ctx, &k->wait, &cnt);
	eventfd_ctx_put(k->ctx);
	fput(k->file);
	kfree(k);
}

enum { KSTOR_KIO_RW, KSTOR_KIO_FLUSH, KSTOR_KIO_ZERO, KSTOR_KIO_DISCARD };

struct kstor_kio {
	struct kiocb iocb;
	struct iov_iter iter;
	struct work_struct work;
	struct llist_node node;
	struct kstor_waker *w;
	struct file *file;	/* a reference while in flight */
	long res;
	u32 tag;
	int op;
	loff_t pos;
	u64 len;
	bool dealloc;
	bool fua;
	unsigned int nr;
	u64 *ranges;
	struct iovec iov[KSTOR_KIO_SEGS];
};

static void kstor_kio_finish(struct kstor_kio *k, long res)
{
	struct kstor_waker *w = k->w;

	k->res = res;
	rcu_read_lock();
	llist_add(&k->node, &w->done);
	/* k may be popped and freed from here on. */
	kstor_waker_kick(w);
	rcu_read_unlock();
}

/* As aio_complete_rw(): drop the freeze protection of a regular file. */
static void kstor_kio_end_write(struct kiocb *iocb)
{
	if ((iocb->ki_flags & IOCB_WRITE) &&
	    S_ISREG(file_inode(iocb->ki_filp)->i_mode))
		kiocb_end_write(iocb);
}

static void kstor_kio_done(struct kiocb *iocb, long res)
{
	struct kstor_kio *k = container_of(iocb, struct kstor_kio, iocb);

	kstor_kio_end_write(iocb);
	kstor_kio_finish(k, res);
}

/*
 * Makes @len bytes at @pos read as zeroes: a hole first if @dealloc, else
 * zeroes first (fallocate), then the other, then written zero pages (a
 * file system or device with neither).
 */
static long kstor_zero_range(struct file *f, loff_t pos, u64 len, bool dealloc)
{
	int mode_z = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	int mode_p = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	size_t chunk = min_t(u64, len, SZ_64K);
	void *zeroes;
	long res;

	res = vfs_fallocate(f, dealloc ? mode_p : mode_z, pos, len);
	if (res == -EOPNOTSUPP)
		res = vfs_fallocate(f, dealloc ? mode_z : mode_p, pos, len);
	if (res != -EOPNOTSUPP)
		return res;
	zeroes = kzalloc(chunk, GFP_KERNEL);
	if (!zeroes)
		return -ENOMEM;
	res = 0;
	while (len && !res) {
		size_t n = min_t(u64, len, chunk);
		ssize_t w = kernel_write(f, zeroes, n, &pos);

		if (w < 0)
			res = w;
		else if (!w)
			res = -EIO;
		else
			len -= w;
	}
	kfree(zeroes);
	return res;
}

static void kstor_kio_work(struct work_struct *work)
{
	struct kstor_kio *k = container_of(work, struct kstor_kio, work);
	long res = 0;
	unsigned int i;

	switch (k->op) {
	case KSTOR_KIO_FLUSH:
		res = vfs_fsync(k->file, 0);
		break;
	case KSTOR_KIO_ZERO:
		res = kstor_zero_range(k->file, k->pos, k->len, k->dealloc);
		if (!res && k->fua)
			res = vfs_fsync_range(k->file, k->pos,
					      k->pos + k->len - 1, 1);
		break;
	case KSTOR_KIO_DISCARD:
		for (i = 0; i < k->nr && !res; i++) {
			loff_t pos = k->ranges[2 * i];
			u64 len = k->ranges[2 * i + 1];

			res = kstor_zero_range(k->file, pos, len, true);
		}
		kfree(k->ranges);
		k->ranges = NULL;
		break;
	}
	kstor_kio_finish(k, res);
}

struct kstor_kio *kstor_kio_alloc(struct kstor_waker *w, u32 tag)
{
	struct kstor_kio *k = kzalloc(sizeof(*k), GFP_KERNEL);

	if (!k)
		return NULL;
	k->w = w;
	k->tag = tag;
	INIT_WORK(&k->work, kstor_kio_work);
	return k;
}

void kstor_kio_free(struct kstor_kio *k)
{
	flush_work(&k->work);
	kfree(k->ranges);
	kfree(k);
}

int kstor_kio_set_seg(struct kstor_kio *k, unsigned int i, u64 uaddr, u32 len)
{
	if (i >= KSTOR_KIO_SEGS)
		return -EINVAL;
	k->iov[i].iov_base = u64_to_user_ptr(uaddr);
	k->iov[i].iov_len = len;
	return 0;
}

static ssize_t kstor_kio_issue(struct kstor_kio *k, bool write, loff_t pos,
			       size_t len, unsigned int nsegs, bool fua,
			       bool direct)
{
	struct kiocb *iocb = &k->iocb;
	struct file *f = k->file;

	memset(iocb, 0, sizeof(*iocb));
	iocb->ki_filp = f;
	iocb->ki_pos = pos;
	/* The file's own O_APPEND/O_DIRECT must not steer guest I/O. */
	iocb->ki_flags = iocb_flags(f) & ~(IOCB_APPEND | IOCB_DIRECT);
	iocb->ki_ioprio = get_current_ioprio();
	iocb->ki_complete = kstor_kio_done;
	if (direct && (f->f_mode & FMODE_CAN_ODIRECT))
		iocb->ki_flags |= IOCB_DIRECT;
	if (fua)
		iocb->ki_flags |= IOCB_DSYNC;
	iov_iter_init(&k->iter, write ? ITER_SOURCE : ITER_DEST, k->iov, nsegs,
		      len);
	if (!write)
		return f->f_op->read_iter(iocb, &k->iter);
	if (S_ISREG(file_inode(f)->i_mode))
		kiocb_start_write(iocb);
	iocb->ki_flags |= IOCB_WRITE;
	return f->f_op->write_iter(iocb, &k->iter);
}

int kstor_kio_rw(struct kstor_kio *k, struct file *f, bool write, loff_t pos,
		 size_t len, unsigned int nsegs, bool fua, bool direct)
{
	size_t total = 0;
	unsigned int i;
	ssize_t ret;

	if (nsegs > KSTOR_KIO_SEGS || !nsegs || !len)
		return -EINVAL;
	/* The iterator walks by length: it must be exactly the segments'. */
	for (i = 0; i < nsegs; i++)
		if (check_add_overflow(total, k->iov[i].iov_len, &total))
			return -EINVAL;
	if (total != len)
		return -EINVAL;
	if (write ? !(f->f_mode & FMODE_WRITE) || !f->f_op->write_iter :
		    !(f->f_mode & FMODE_READ) || !f->f_op->read_iter)
		return -EBADF;
	k->op = KSTOR_KIO_RW;
	k->file = get_file(f);
	ret = kstor_kio_issue(k, write, pos, len, nsegs, fua, direct);
	if (ret == -EINVAL && (k->iocb.ki_flags & IOCB_DIRECT)) {
		/* Not aligned for direct I/O: through the page cache. */
		kstor_kio_end_write(&k->iocb);
		ret = kstor_kio_issue(k, write, pos, len, nsegs, fua, false);
	}
	if (ret == -EIOCBQUEUED)
		return 0;
	if (ret == -ERESTARTSYS || ret == -ERESTARTNOINTR ||
	    ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK)
		ret = -EINTR;
	kstor_kio_done(&k->iocb, ret);
	return 0;
}

static int kstor_kio_queue(struct kstor_kio *k, struct file *f, int op)
{
	if (!(f->f_mode & FMODE_WRITE))
		return -EBADF;
	k->op = op;
	k->file = get_file(f);
	queue_work(system_dfl_wq, &k->work);
	return 0;
}

int kstor_kio_flush(struct kstor_kio *k, struct file *f)
{
	return kstor_kio_queue(k, f, KSTOR_KIO_FLUSH);
}

int kstor_kio_zero(struct kstor_kio *k, struct file *f, loff_t pos, u64 len,
		   bool dealloc, bool fua)
{
	k->pos = pos;
	k->len = len;
	k->dealloc = dealloc;
	k->fua = fua;
	return kstor_kio_queue(k, f, KSTOR_KIO_ZERO);
}

int kstor_kio_discard(struct kstor_kio *k, struct file *f, const u64 *ranges,
		      unsigned int nr)
{
	kfree(k->ranges);
	k->ranges = kmemdup_array(ranges, 2 * nr, sizeof(u64), GFP_KERNEL);
	if (!k->ranges)
		return -ENOMEM;
	k->nr = nr;
	return kstor_kio_queue(k, f, KSTOR_KIO_DISCARD);
}

bool kstor_waker_pop(struct kstor_waker *w, u32 *tag, long *res)
{
	struct kstor_kio *k;

	if (!w->batch)
		w->batch = llist_reverse_order(llist_del_all(&w->done));
	if (!w->batch)
		return false;
	k = llist_entry(w->batch, struct kstor_kio, node);
	w->batch = w->batch->next;
	*tag = k->tag;
	*res = k->res;
	fput(k->file);
	k->file = NULL;
	return true;
}

struct file *kstor_fget(int fd)
{
	return fget(fd);
}

u64 kstor_file_size(struct file *f)
{
	struct inode *inode = file_inode(f);

	if (S_ISBLK(inode->i_mode))
		return bdev_nr_bytes(I_BDEV(f->f_mapping->host));
	return i_size_read(inode);
}

unsigned int kstor_file_lbs(struct file *f)
{
	struct inode *inode = file_inode(f);

	if (S_ISBLK(inode->i_mode))
		return bdev_logical_block_size(I_BDEV(f->f_mapping->host));
	return 512;
}

bool kstor_file_rw(struct file *f)
{
	struct inode *inode = file_inode(f);

	return (f->f_mode & FMODE_READ) && (f->f_mode & FMODE_WRITE) &&
	       !(f->f_flags & O_APPEND) &&
	       (S_ISBLK(inode->i_mode) || S_ISREG(inode->i_mode));
}

int kstor_file_fsync(struct file *f)
{
	return vfs_fsync(f, 0);
}

struct kstor_claim {
	struct list_head node;
	dev_t dev;
	const struct mapped_device *md;
	const struct dm_table *table;
	char holder[DM_NAME_LEN + 16];
};

static LIST_HEAD(kstor_claims);
static DEFINE_MUTEX(kstor_claims_lock);

dev_t kstor_dm_dev_devt(struct dm_dev *dev)
{
	return dev->bdev->bd_dev;
}

struct kstor_claim *kstor_claim_dev(struct dm_target *ti, dev_t d,
				    char *holder, size_t len, int *err)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	char name[DM_NAME_LEN];
	struct kstor_claim *c, *n;

	n = kzalloc(sizeof(*n), GFP_KERNEL);
	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	if (dm_copy_name_and_uuid(md, name, NULL))
		strscpy(name, "?", sizeof(name));
	n->dev = d;
	n->md = md;
	n->table = ti->table;
	snprintf(n->holder, sizeof(n->holder), "%s (%s)", name,
		 dm_device_name(md));
	mutex_lock(&kstor_claims_lock);
	list_for_each_entry(c, &kstor_claims, node) {
		if (c->dev != d)
			continue;
		if (c->md != md || c->table == ti->table) {
			strscpy(holder, c->holder, len);
			mutex_unlock(&kstor_claims_lock);
			kfree(n);
			*err = -EBUSY;
			return NULL;
		}
	}
	list_add(&n->node, &kstor_claims);
	mutex_unlock(&kstor_claims_lock);
	*err = 0;
	return n;
}

void kstor_claim_release(struct kstor_claim *c)
{
	mutex_lock(&kstor_claims_lock);
	list_del(&c->node);
	mutex_unlock(&kstor_claims_lock);
	kfree(c);
}

struct kstor_periodic {
	struct delayed_work dw;
	struct workqueue_struct *wq;
	void (*fn)(const void *data);
	const void *data;
	unsigned long period;
	bool running;
};

static void kstor_periodic_work(struct work_struct *w)
{
	struct kstor_periodic *p =
		container_of(to_delayed_work(w), struct kstor_periodic, dw);

	p->fn(p->data);
	/* cancel_delayed_work_sync() also stops a rearm racing with it. */
	if (READ_ONCE(p->running))
		queue_delayed_work(p->wq, &p->dw, READ_ONCE(p->period));
}

struct kstor_periodic *kstor_periodic_alloc(struct workqueue_struct *wq,
					    void (*fn)(const void *data),
					    const void *data)
{
	struct kstor_periodic *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return NULL;
	INIT_DELAYED_WORK(&p->dw, kstor_periodic_work);
	p->wq = wq;
	p->fn = fn;
	p->data = data;
	p->period = HZ;
	return p;
}

void kstor_periodic_start(struct kstor_periodic *p, unsigned int ms)
{
	unsigned long j = msecs_to_jiffies(ms);

	WRITE_ONCE(p->period, j ? j : 1);
	WRITE_ONCE(p->running, true);
	mod_delayed_work(p->wq, &p->dw, READ_ONCE(p->period));
}

void kstor_periodic_stop(struct kstor_periodic *p)
{
	WRITE_ONCE(p->running, false);
	cancel_delayed_work_sync(&p->dw);
}

void kstor_periodic_free(struct kstor_periodic *p)
{
	kstor_periodic_stop(p);
	kfree(p);
}
