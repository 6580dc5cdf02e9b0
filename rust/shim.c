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
