/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C wrappers for static inline kernel helpers that Rust cannot call directly.
 * Implemented in shim.c; bindgen turns this header into Rust declarations.
 */
#ifndef KSTOR_SHIM_H
#define KSTOR_SHIM_H

#include <linux/types.h>
#include <linux/blk_types.h>

struct bio;
struct bio_vec;
struct bvec_iter;
struct block_device;
struct page;

/* bio_set_dev() */
void kstor_bio_set_dev(struct bio *bio, struct block_device *bdev);
/*
 * One step of bio_for_each_segment(): false once @iter is exhausted, and at
 * once for bios without data (discard, secure erase, write zeroes).
 */
bool kstor_bio_next_segment(struct bio *bio, struct bvec_iter *iter,
			    struct bio_vec *bv);
/* bio_alloc() without a block device, from fs_bio_set. */
struct bio *kstor_bio_alloc(unsigned short nr_vecs, blk_opf_t opf, gfp_t gfp);
/* memcpy_from_page() / memcpy_to_page() (kmap_local inside). */
void kstor_memcpy_from_page(void *to, struct page *page, size_t offset,
			    size_t len);
void kstor_memcpy_to_page(struct page *page, size_t offset, const void *from,
			  size_t len);
/* bdev_nr_sectors() */
sector_t kstor_bdev_nr_sectors(struct block_device *bdev);
/* bdev_logical_block_size() */
unsigned int kstor_bdev_logical_block_size(struct block_device *bdev);
/*
 * The page behind a kernel virtual address: vmalloc_to_page() for vmalloc
 * and module addresses, virt_to_page() for the linear map, NULL for stack
 * addresses (no DMA from stacks) and anything else.
 */
struct page *kstor_virt_to_page(const void *addr);
struct scatterlist;
/* sg_set_page(), sg_mark_end(), sg_page() */
void kstor_sg_set_page(struct scatterlist *sg, struct page *page,
		       unsigned int len, unsigned int offset);
void kstor_sg_mark_end(struct scatterlist *sg);
struct page *kstor_sg_page(struct scatterlist *sg);
/* crypto acomp (include/crypto/acompress.h). */
struct crypto_acomp;
struct acomp_req;
/* crypto_alloc_acomp(): NULL with *err set on failure. */
/* crypto_alloc_acomp(); @sync_only: mask CRYPTO_ALG_ASYNC (software). */
struct crypto_acomp *kstor_acomp_alloc(const char *alg, bool sync_only,
				       int *err);
void kstor_acomp_free(struct crypto_acomp *tfm);
const char *kstor_acomp_driver_name(struct crypto_acomp *tfm);
bool kstor_acomp_is_async(struct crypto_acomp *tfm);
/*
 * Asynchronous requests: a completion the callback signals (in softirq,
 * without sleeping). kstor_acomp_submit() returns -EINPROGRESS when the
 * callback will fire (accepted or backlogged), else the final result (the
 * request completed synchronously, or was refused).
 */
struct kstor_acomp_wait;
struct kstor_acomp_wait *kstor_acomp_wait_alloc(gfp_t gfp);
void kstor_acomp_wait_free(struct kstor_acomp_wait *w);
int kstor_acomp_submit(struct acomp_req *req, bool compress,
		       struct scatterlist *src, unsigned int slen,
		       struct scatterlist *dst, unsigned int dlen,
		       struct kstor_acomp_wait *w);
/* Waits up to @ms (0: does not wait); true once the callback has fired. */
bool kstor_acomp_wait_timeout(struct kstor_acomp_wait *w, unsigned int ms);
int kstor_acomp_wait_err(struct kstor_acomp_wait *w);
unsigned int kstor_acomp_req_dlen(struct acomp_req *req);
struct acomp_req *kstor_acomp_request_alloc(struct crypto_acomp *tfm,
					    gfp_t gfp);
/* Frees a completed request after an RCU grace period (may sleep). */
void kstor_acomp_request_free_deferred(struct acomp_req *req);
/* Takes a reference on this module that is never dropped. */
void kstor_module_pin(void);
/*
 * One (de)compression of @slen bytes at @src into at most *@dlen bytes at
 * @dst, waited for (may sleep); on success *@dlen is the output length.
 */
int kstor_acomp_run_sync(struct acomp_req *req, bool compress,
			 struct scatterlist *src, unsigned int slen,
			 struct scatterlist *dst, unsigned int *dlen);
/* Bitfields of struct dm_target. */
struct dm_target;
void kstor_dm_target_set_discards_supported(struct dm_target *ti, bool on);
void kstor_dm_target_set_flush_supported(struct dm_target *ti, bool on);

/* ti->max_discard_granularity: discards split only by max_discard_sectors. */
void kstor_dm_target_set_max_discard_granularity(struct dm_target *ti, bool on);
/* queue_limits discard fields. */
struct queue_limits;
void kstor_limits_set_discard(struct queue_limits *lim, unsigned int granularity,
			      unsigned int max_sectors);

/* Block device handle: a reference on the dm_dev's bdev file. */
struct dm_dev;
struct file;
struct file *kstor_dm_dev_get_file(struct dm_dev *dev);
struct block_device *kstor_file_bdev(struct file *file);
void kstor_fput(struct file *file);
/*
 * Synchronous I/O of @len bytes (at most one page, not crossing it) at the
 * kernel address @buf (kmalloc'd or vmalloc'd) to/from @sector of @bdev.
 */
int kstor_sync_rw(struct block_device *bdev, blk_opf_t opf, sector_t sector,
		  void *buf, unsigned int len);
/* blkdev_issue_discard() with GFP_NOIO. */
int kstor_discard(struct block_device *bdev, sector_t sector, sector_t nr);

/*
 * Asynchronous I/O of @nr whole pages (4 KiB buffers of the linear map or
 * vmalloc) at @sector: a bio from fs_bio_set (GFP_NOIO) with @end_io and
 * @private, submitted. -EINVAL (nothing submitted) for @nr of 0 or above
 * BIO_MAX_VECS, or a buffer that is not a whole page.
 */
int kstor_aio_submit(struct block_device *bdev, blk_opf_t opf, sector_t sector,
		     void *const *bufs, unsigned int nr,
		     void (*end_io)(struct bio *), void *private);
/* bio->bi_private, bio->bi_status (for end_io callbacks). */
void *kstor_bio_private(struct bio *bio);
u8 kstor_bio_status(struct bio *bio);

/* bio_list (include/linux/bio.h). */
struct bio_list;
void kstor_bio_list_add(struct bio_list *bl, struct bio *bio);
struct bio *kstor_bio_list_pop(struct bio_list *bl);

/* memalloc_noio_save() / memalloc_noio_restore(). */
unsigned int kstor_noio_save(void);
void kstor_noio_restore(unsigned int flags);
/* alloc_workqueue(name, WQ_MEM_RECLAIM | WQ_UNBOUND, 0); NULL on failure. */
struct workqueue_struct;
struct workqueue_struct *kstor_alloc_wq(const char *name);

/* persistent-data (drivers/md/persistent-data): static inline helpers. */
struct dm_space_map;
struct dm_block_manager;
struct dm_block;
struct dm_block_validator;
void kstor_sm_destroy(struct dm_space_map *sm);
int kstor_sm_extend(struct dm_space_map *sm, u64 extra);
int kstor_sm_get_nr_blocks(struct dm_space_map *sm, u64 *count);
int kstor_sm_get_nr_free(struct dm_space_map *sm, u64 *count);
int kstor_sm_get_count(struct dm_space_map *sm, u64 b, u32 *result);
int kstor_sm_commit(struct dm_space_map *sm);
int kstor_sm_inc_blocks(struct dm_space_map *sm, u64 b, u64 e);
int kstor_sm_dec_blocks(struct dm_space_map *sm, u64 b, u64 e);
int kstor_sm_new_block(struct dm_space_map *sm, u64 *b);
int kstor_sm_root_size(struct dm_space_map *sm, size_t *result);
int kstor_sm_copy_root(struct dm_space_map *sm, void *dst, size_t len);
/* dm_sm_disk_create/open with IS_ERR folded into *err. */
struct dm_transaction_manager;
struct dm_space_map *kstor_sm_disk_create(struct dm_transaction_manager *tm,
					  u64 nr_blocks, int *err);
struct dm_space_map *kstor_sm_disk_open(struct dm_transaction_manager *tm,
					void *root, size_t len, int *err);
struct dm_block_manager *kstor_bm_create(struct block_device *bdev, int *err);
/*
 * The superblock validator: a crc32c of bytes 4..4095 at offset 0 and the
 * block number at offset 8 (little-endian), as dm-thin's superblock.
 */
extern const struct dm_block_validator kstor_sb_validator;
void *kstor_block_data(struct dm_block *b);
/*
 * A btree value_type.dec that records up to @cap removed 64-bit values;
 * context is a struct kstor_collect.
 */
struct kstor_collect {
	u64 *vals;
	unsigned int len;
	unsigned int cap;
	bool overflow;
};
void kstor_collect_dec(void *context, const void *value, unsigned int count);

/* sha256() of <crypto/sha2.h>. */
void kstor_sha256(const u8 *data, size_t len, u8 *out);


/*
 * nvme_vhost: worker task, wakeups, eventfds and asynchronous file I/O
 * (kstor::vhost). See shim.c for the locking and lifetime rules.
 */
struct kstor_waker;
struct kstor_kio;
struct kstor_kickfd;
struct eventfd_ctx;
struct file;
/* Segments one kstor_kio carries at most. */
#define KSTOR_KIO_SEGS 33

struct kstor_waker *kstor_waker_alloc(void);
/* Only after kstor_waker_stop() and with no kio or kickfd left. */
void kstor_waker_free(struct kstor_waker *w);
/* The one kio pool of a waker: false if it has one already. */
bool kstor_waker_claim_pool(struct kstor_waker *w);
/* Sets the kick flag and wakes the worker; any context. */
void kstor_waker_kick(struct kstor_waker *w);
/* Reads and clears the kick flag. */
bool kstor_waker_take(struct kstor_waker *w);
/* Doorbell eventfd signals since the last call. */
u64 kstor_waker_fd_kicks(struct kstor_waker *w);
/*
 * vhost_task_create() + vhost_task_start() in current's thread group;
 * -EBUSY if the waker has a task already.
 */
int kstor_waker_start(struct kstor_waker *w, bool (*fn)(void *),
		      void (*kill)(void *), void *arg, const char *name);
/* vhost_task_stop(), after no wakeup can still reach the task. */
void kstor_waker_stop(struct kstor_waker *w);
/* The next finished kio: false if none. */
bool kstor_waker_pop(struct kstor_waker *w, u32 *tag, long *res);

void kstor_set_current_interruptible(void);
void kstor_set_current_running(void);
void kstor_cond_resched(void);
void kstor_msleep(unsigned int ms);

/*
 * current->mm with an mmgrab() reference (NULL for a kernel thread), and
 * its release. Read in C: the Rust bindings' view of task_struct has been
 * seen to disagree with the C layout in the debug kernel config.
 */
struct mm_struct *kstor_current_mm_grab(void);
bool kstor_current_mm_is(const struct mm_struct *mm);
void kstor_mm_drop(struct mm_struct *mm);

struct eventfd_ctx *kstor_eventfd_get(int fd, int *err);
void kstor_eventfd_signal(struct eventfd_ctx *ctx);
void kstor_eventfd_put(struct eventfd_ctx *ctx);

struct kstor_kickfd *kstor_kickfd_new(int fd, struct kstor_waker *w, int *err);
void kstor_kickfd_free(struct kstor_kickfd *k);

struct kstor_kio *kstor_kio_alloc(struct kstor_waker *w, u32 tag);
/* Only when the kio is not in flight. */
void kstor_kio_free(struct kstor_kio *k);
int kstor_kio_set_seg(struct kstor_kio *k, unsigned int i, u64 uaddr, u32 len);
/*
 * Starts a read or write of @len bytes at @pos over the first @nsegs
 * segments (user addresses of current's mm); its end is reported through
 * kstor_waker_pop(). Errors: -EINVAL, -EBADF (nothing started).
 */
int kstor_kio_rw(struct kstor_kio *k, struct file *f, bool write, loff_t pos,
		 size_t len, unsigned int nsegs, bool fua, bool direct);
/* Flush, write zeroes and discard run on an unbound workqueue. */
int kstor_kio_flush(struct kstor_kio *k, struct file *f);
int kstor_kio_zero(struct kstor_kio *k, struct file *f, loff_t pos, u64 len,
		   bool dealloc, bool fua);
/* @ranges: @nr pairs (offset, length) in bytes; copied. */
int kstor_kio_discard(struct kstor_kio *k, struct file *f, const u64 *ranges,
		      unsigned int nr);

/* fget(): NULL for a bad descriptor. */
struct file *kstor_fget(int fd);
/* The backend behind a file: size in bytes, logical block size. */
u64 kstor_file_size(struct file *f);
unsigned int kstor_file_lbs(struct file *f);
bool kstor_file_rw(struct file *f);
/* vfs_fsync() */
int kstor_file_fsync(struct file *f);

/*
 * Exclusive use of a data device among the targets of one module (as
 * dm-thin's pool table): a claim names the device, the mapped device and
 * the table of the target that made it. A second claim of the same device
 * succeeds only for another table of the same mapped device (a table
 * reload); it fails with -EBUSY for another mapped device or for a second
 * target of the same table, and copies the holder's name ("name (dm-N)")
 * into @holder. NULL with *err set on failure.
 */
struct kstor_claim;
struct kstor_claim *kstor_claim_dev(struct dm_target *ti, dev_t dev,
				    char *holder, size_t len, int *err);
/* dev->bdev->bd_dev (no sleeping: may be called under rcu_read_lock()). */
dev_t kstor_dm_dev_devt(struct dm_dev *dev);
void kstor_claim_release(struct kstor_claim *c);

/*
 * A self-rearming delayed work on @wq calling @fn(@data) every period
 * while started. kstor_periodic_stop() waits for a running call and
 * leaves it disarmed (cancel_delayed_work_sync()); it must not be called
 * from @fn.
 */
struct kstor_periodic;
struct kstor_periodic *kstor_periodic_alloc(struct workqueue_struct *wq,
					    void (*fn)(const void *data),
					    const void *data);
void kstor_periodic_start(struct kstor_periodic *p, unsigned int ms);
void kstor_periodic_stop(struct kstor_periodic *p);
void kstor_periodic_free(struct kstor_periodic *p);

#endif /* KSTOR_SHIM_H */
