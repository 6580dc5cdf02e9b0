# SPDX-License-Identifier: GPL-2.0
#
# bindgen over a layout header (see rust/layout_check.h): the constants
# KSTOR_SIZE_*, KSTOR_ALIGN_*, KSTOR_OFF_*, KSTOR_FSIZE_* and
# KSTOR_LAYOUT_ENTRIES, evaluated by clang with the module's C flags.
# Used as $(call if_changed_dep,kstor_layout) with the header as $<.
quiet_cmd_kstor_layout = BINDGEN $@
      cmd_kstor_layout = mkdir -p $(dir $@) && $(BINDGEN) $< --use-core \
	--ctypes-prefix kernel::ffi --no-doc-comments \
	--allowlist-file '.*/layout_check\.h' \
	-o $@ -- $(c_flags) -DMODULE -fno-builtin -D__BINDGEN__
