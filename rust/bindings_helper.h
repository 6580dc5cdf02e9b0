/* SPDX-License-Identifier: GPL-2.0 */
/* Input of bindgen for the kstor layer: headers the kernel crate lacks. */
#include <linux/crc32.h>
#include <linux/device-mapper.h>
#include <linux/zlib.h>
#include "shim.h"
