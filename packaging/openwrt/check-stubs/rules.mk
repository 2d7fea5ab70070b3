# Stand-in for OpenWrt's rules.mk (check-makefile.sh): the variables a
# package Makefile uses, with the values OpenWrt gives them.
INCLUDE_DIR:=$(TOPDIR)/include
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
