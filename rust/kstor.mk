# SPDX-License-Identifier: GPL-2.0
#
# Compiles the kstor abstraction layer (rust/) into the module of the
# including directory, as objects kstor.o (Rust library crate `kstor`) and
# kstor_shim.o (C wrappers). Each module gets its own copy: one object may
# not be linked into two modules.
#
# The including Kbuild sets:
#   kstor-module := <module name>          (composite object without .o)
#   kstor-rustflags := <extra rustc flags> (optional, e.g. --cfg kstor_kunit)
# and lists kstor.o kstor_shim.o in <module>-y; its crate roots that use
# kstor depend on $(obj)/kstor.o and get $(kstor-extern) in their flags.

KSTOR_SRC := $(src)/../../rust

# persistent-data headers live in the kernel source, outside include/.
ccflags-y += -I$(srctree)/drivers/md

# Bindings for headers the kernel crate lacks (device-mapper.h, shim.h),
# with bindgen's layout tests: compile-time asserts that each generated
# type has clang's size, alignment and field offsets.
quiet_cmd_kstor_bindgen = BINDGEN $@
      cmd_kstor_bindgen = mkdir -p $(dir $@) && $(BINDGEN) $< --use-core --ctypes-prefix kernel::ffi \
	--no-doc-comments --with-derive-default \
	--allowlist-file '.*/include/linux/device-mapper.h' \
	--allowlist-function crc32_le \
	--allowlist-file '.*/include/linux/zlib.h' \
	--allowlist-file '.*/include/linux/zconf.h' \
	--allowlist-file '.*/rust/shim.h' --no-recursive-allowlist \
	--allowlist-function 'dm_btree_(empty|lookup|lookup_next|insert|remove|remove_leaves)' \
	--allowlist-function 'dm_tm_(create_with_sm|open_with_sm|pre_commit|commit|destroy)' \
	--allowlist-function 'dm_bm_(read_lock|write_lock|write_lock_zero|unlock)|dm_block_manager_destroy' \
	--allowlist-type 'dm_btree_info|dm_btree_value_type|kstor_collect|bio_list|dm_block_t' \
	--allowlist-type 'dm_block_manager|dm_block|dm_block_validator|dm_transaction_manager|dm_space_map' \
	--opaque-type 'dm_block_manager|dm_block|dm_block_validator|dm_transaction_manager|dm_space_map' \
	--blocklist-function dm_early_create \
	-o $@ -- $(c_flags) -DMODULE -fno-builtin -D__BINDGEN__
# Generated code goes to build/ (one file per module), apart from the
# sources; rust/bindings.rs includes it.
kstor-bindings := ../../build/kstor/bindings_$(kstor-module).rs
$(obj)/$(kstor-bindings): $(KSTOR_SRC)/bindings_helper.h FORCE
	$(call if_changed_dep,kstor_bindgen)
targets += $(kstor-bindings)
clean-files += $(kstor-bindings)

# C's layout of the kernel structs Rust touches (rust/layout.h), which
# rust/layout.rs compares with kernel::bindings.
include $(KSTOR_SRC)/layout.mk
kstor-layout := ../../build/kstor/layout_$(kstor-module).rs
$(obj)/$(kstor-layout): $(KSTOR_SRC)/layout.h FORCE
	$(call if_changed_dep,kstor_layout)
targets += $(kstor-layout)
clean-files += $(kstor-layout)

# Source rules (scripts/rust-guard.sh), checked before kstor.o is built: no
# kernel::task in rust/ or the driver; driver crate roots forbid unsafe
# code and the driver does not use C bindings.
kstor-crate-roots = $(wildcard $(patsubst %.o,$(src)/%.rs, \
	$(filter-out kstor.o kstor_shim.o,$($(kstor-module)-y))))
quiet_cmd_kstor_guard = GUARD   $(src)
      cmd_kstor_guard = bash $(KSTOR_SRC)/../scripts/rust-guard.sh \
	$(KSTOR_SRC) $(src) $(kstor-crate-roots)
PHONY += $(obj)/kstor-guard
$(obj)/kstor-guard:
	$(call cmd,kstor_guard)

# The library crate: rust/kstor.rs and the modules it declares.
$(obj)/kstor.o: export KSTOR_BINDINGS := $(abspath $(obj)/$(kstor-bindings))
$(obj)/kstor.o: export KSTOR_LAYOUT := $(abspath $(obj)/$(kstor-layout))
$(obj)/kstor.o: export KSTOR_MODNAME := $(kstor-module)
$(obj)/kstor.o: $(KSTOR_SRC)/kstor.rs $(obj)/$(kstor-bindings) \
		$(obj)/$(kstor-layout) FORCE | $(obj)/kstor-guard
	+$(call if_changed_rule,rustc_o_rs)
RUSTFLAGS_kstor.o := --emit=metadata=$(obj)/libkstor.rmeta $(kstor-rustflags)
clean-files += libkstor.rmeta

$(obj)/kstor_shim.o: $(KSTOR_SRC)/shim.c FORCE
	$(call if_changed_rule,cc_o_c)

kstor-extern := -L $(obj) --extern kstor
