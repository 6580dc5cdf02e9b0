// SPDX-License-Identifier: GPL-2.0
/*
 * C wrappers for static inline kernel helpers; see shim.h.
 * Compiled into each module that links the kstor abstraction layer.
 */
#include <crypto/acompress.h>
#include <linux/bio.h>
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

struct crypto_acomp *kstor_acomp_alloc(const char *alg, u32 type, u32 mask,
				       int *err)
{
	struct crypto_acomp *tfm = crypto_alloc_acomp(alg, type, mask);

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

struct acomp_req *kstor_acomp_request_alloc(struct crypto_acomp *tfm,
					    gfp_t gfp)
{
	return acomp_request_alloc(tfm, gfp);
}

void kstor_acomp_request_free(struct acomp_req *req)
{
	acomp_request_free(req);
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
