// SPDX-License-Identifier: GPL-2.0
/*
 * C wrappers for static inline kernel helpers; see shim.h.
 * Compiled into each module that links the kstor abstraction layer.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/highmem.h>
#include <linux/mm.h>
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
