# Stand-in for OpenWrt's include/package.mk (check-makefile.sh). OpenWrt
# evaluates Package/NAME to read the metadata, expands
# Package/NAME/install once into a recipe with $(1) = the package's
# staging root, and runs Build/Compile in the build directory; so does
# this, with targets to look at each step:
#   make info | compile | install DESTDIR=...
PKG_BUILD_DIR?=$(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
PKG_INSTALL_DIR?=$(PKG_BUILD_DIR)/ipkg-install
DESTDIR?=$(PKG_BUILD_DIR)/ipkg-root

define BuildPackage
$(eval $(Package/$(1)))
.PHONY: info compile install
info:
	@echo 'PKG_NAME=$(PKG_NAME)'
	@echo 'PKG_VERSION=$(PKG_VERSION)'
	@echo 'PKG_RELEASE=$(PKG_RELEASE)'
	@echo 'PKG_LICENSE=$(PKG_LICENSE)'
	@echo 'PKG_MAINTAINER=$(PKG_MAINTAINER)'
	@echo 'PKG_SOURCE_PROTO=$(PKG_SOURCE_PROTO)'
	@echo 'PKG_BUILD_DEPENDS=$(PKG_BUILD_DEPENDS)'
	@echo 'SECTION=$(SECTION)'
	@echo 'CATEGORY=$(CATEGORY)'
	@echo 'TITLE=$(TITLE)'
	@echo 'DEPENDS=$(DEPENDS)'
	@echo 'CONFFILES=$(strip $(Package/$(1)/conffiles))'
	@echo 'DESCRIPTION_WORDS=$(words $(Package/$(1)/description))'
compile:
	$(call Build/Compile)
install:
	$(call Package/$(1)/install,$$(DESTDIR))
endef
