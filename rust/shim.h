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
struct crypto_acomp *kstor_acomp_alloc(const char *alg, u32 type, u32 mask,
				       int *err);
void kstor_acomp_free(struct crypto_acomp *tfm);
const char *kstor_acomp_driver_name(struct crypto_acomp *tfm);
struct acomp_req *kstor_acomp_request_alloc(struct crypto_acomp *tfm,
					    gfp_t gfp);
void kstor_acomp_request_free(struct acomp_req *req);
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

#endif /* KSTOR_SHIM_H */
