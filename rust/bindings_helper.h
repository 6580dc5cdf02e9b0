/* SPDX-License-Identifier: GPL-2.0 */
/* Input of bindgen for the kstor layer: headers the kernel crate lacks. */
#include <linux/crc32.h>
#include <linux/device-mapper.h>
#include <linux/zlib.h>
#include "persistent-data/dm-block-manager.h"
#include "persistent-data/dm-btree.h"
#include "persistent-data/dm-space-map.h"
#include "persistent-data/dm-transaction-manager.h"
#include "shim.h"
