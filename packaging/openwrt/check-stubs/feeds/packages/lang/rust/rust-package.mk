# Stand-in for the packages feed's lang/rust/rust-package.mk
# (check-makefile.sh): the same macros, with cargo replaceable by
# CARGO=... (e.g. CARGO="echo cargo" to see the command).
CARGO?=cargo
RUST_ARCH_DEPENDS:=@(aarch64||arm||i386||i686||mips||mipsel||mips64||mips64el||powerpc64||riscv64||x86_64)

# $(1) path to the package (optional). The real macro also appends $(2),
# more cargo arguments; left out here, where --warn-undefined-variables
# would flag it when a package passes none.
define Build/Compile/Cargo
	( \
		cd $(PKG_BUILD_DIR) ; \
		$(CARGO) install -v \
			--profile release \
			--root $(PKG_INSTALL_DIR) \
			--path "$(if $(strip $(1)),$(strip $(1)),.)" \
			--locked ; \
	)
endef

define RustBinPackage
  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(INSTALL_DIR) $$(1)/usr/bin/
	$$(INSTALL_BIN) $$(PKG_INSTALL_DIR)/bin/* $$(1)/usr/bin/
    endef
  endif
endef

Build/Compile=$(call Build/Compile/Cargo)
