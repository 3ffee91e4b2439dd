# netlog: make builds build/netlogd; make run, make test, make bench, make install.
OUT := build
SRC := src

CC ?= gcc
# Debian's interpreter: python3-pytest installs for it
PYTHON ?= /usr/bin/python3
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter \
	-D_GNU_SOURCE -I$(SRC) -I$(OUT) -MMD -MP
LDLIBS := -lbpf -lelf -lz
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I$(SRC) -I$(OUT) -MMD -MP

DAEMON_SRCS := main.c options.c loader.c system.c privs.c format.c sink.c log.c udpflow.c nametab.c exetab.c cgtab.c communityid.c filter.c
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(OUT)/%.o)
UNIT_OBJS := $(OUT)/test_unit.o $(OUT)/format.o $(OUT)/options.o $(OUT)/sink.o $(OUT)/log.o \
	     $(OUT)/udpflow.o $(OUT)/nametab.o $(OUT)/exetab.o $(OUT)/cgtab.o $(OUT)/communityid.o \
	     $(OUT)/filter.o $(OUT)/system.o

DEPS_STAMP := $(OUT)/.deps-build

.PHONY: all run test unit e2e bench fuzz test-kernels clean deps install uninstall
all: $(OUT)/netlogd

$(OUT):
	mkdir -p $@

# Debian packages the build needs, installed once when missing.
$(DEPS_STAMP): scripts/install-deps | $(OUT)
	scripts/install-deps build
	touch $@

deps: $(DEPS_STAMP)

# The running kernel's types; CO-RE relocates them on any other kernel.
$(OUT)/vmlinux.h: | $(DEPS_STAMP)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	mv $@.tmp $@

$(OUT)/netlog.bpf.o: $(SRC)/netlog.bpf.c $(OUT)/vmlinux.h | $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The same programs for kernels before 5.12 (see src/netlog.bpf.h); netlogd
# carries both and loads the one the running kernel takes.
$(OUT)/netlog_compat.bpf.o: $(SRC)/netlog.bpf.c $(OUT)/vmlinux.h | $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -DNETLOG_COMPAT -MT $@ -MF $(OUT)/netlog_compat.bpf.d -c $< -o $@

$(OUT)/netlog.skel.h: $(OUT)/netlog.bpf.o
	$(BPFTOOL) gen skeleton $< name netlog_bpf > $@.tmp
	mv $@.tmp $@

# One skeleton drives both builds: their globals must sit at the same offsets.
$(OUT)/netlog_compat.skel.h: $(OUT)/netlog_compat.bpf.o $(OUT)/netlog.bpf.o
	scripts/same-layout $(OUT)/netlog.bpf.o $<
	$(BPFTOOL) gen skeleton $< name netlog_compat_bpf > $@.tmp
	mv $@.tmp $@

# The loader embeds the skeletons, so they must exist before the loader compiles.
$(OUT)/loader.o: $(OUT)/netlog.skel.h $(OUT)/netlog_compat.skel.h

$(OUT)/%.o: $(SRC)/%.c | $(DEPS_STAMP)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/test_unit.o: tests/unit/test_unit.c | $(DEPS_STAMP)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/netlogd: $(DAEMON_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/test_unit: $(UNIT_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/churn: bench/churn.c | $(DEPS_STAMP)
	$(CC) $(CFLAGS) -pthread $< -o $@

$(OUT)/udpflood: bench/udpflood.c | $(DEPS_STAMP)
	$(CC) $(CFLAGS) -pthread $< -o $@

$(OUT)/sysloop: bench/sysloop.c | $(DEPS_STAMP)
	$(CC) $(CFLAGS) $< -o $@

$(OUT)/uringloop: bench/uringloop.c | $(DEPS_STAMP)
	$(CC) $(CFLAGS) $< -o $@

# Do-nothing programs on netlogd's hooks: what the hooks alone cost.
$(OUT)/floor.bpf.o: bench/floor.bpf.c $(OUT)/vmlinux.h | $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/floor: bench/floor.c $(OUT)/floor.bpf.o | $(DEPS_STAMP)
	$(CC) $(CFLAGS) $< $(LDLIBS) -o $@

# What an event's ring buffer record costs, shared ring against one per CPU.
$(OUT)/ringbench.bpf.o: bench/ringbench.bpf.c $(SRC)/netlog.h $(OUT)/vmlinux.h | $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/ringbench: bench/ringbench.c $(OUT)/ringbench.bpf.o | $(DEPS_STAMP)
	$(CC) $(CFLAGS) -pthread $< $(LDLIBS) -o $@

# What formatting an event costs the daemon.
$(OUT)/fmtbench: bench/fmtbench.c $(OUT)/format.o $(OUT)/communityid.o | $(DEPS_STAMP)
	$(CC) $(CFLAGS) $(filter %.c %.o,$^) -o $@

# Build and run netlogd in the foreground: classic lines on stdout.
run: $(OUT)/netlogd
	$(OUT)/netlogd $(ARGS)

unit: $(OUT)/test_unit
	$(OUT)/test_unit

e2e: $(OUT)/netlogd $(OUT)/churn
	scripts/install-deps test
	cd tests/e2e && $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Build everything, then every test: unit first, then end to end.
test: $(OUT)/netlogd $(OUT)/test_unit $(OUT)/churn
	scripts/install-deps test
	$(OUT)/test_unit
	cd tests/e2e && $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# What attacker-controlled text goes through, fuzzed (libFuzzer, AddressSanitizer,
# UBSan): the formatters (a classic line stays printable ASCII, a JSON one one
# valid object) and the configuration parser, FUZZ_SECONDS each. The corpus
# grows in build/fuzz/; an input that fails is saved there and named.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -I$(SRC) -Itests/fuzz
FUZZ_FORMAT_SRCS := tests/fuzz/fuzz_format.c $(SRC)/format.c $(SRC)/communityid.c
FUZZ_CONFIG_SRCS := tests/fuzz/fuzz_config.c $(SRC)/options.c $(SRC)/filter.c $(SRC)/log.c \
	$(SRC)/format.c $(SRC)/communityid.c $(SRC)/system.c

$(OUT)/fuzz_format: $(FUZZ_FORMAT_SRCS) tests/fuzz/json.h | $(DEPS_STAMP)
	scripts/install-deps fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_FORMAT_SRCS) -o $@

$(OUT)/fuzz_config: $(FUZZ_CONFIG_SRCS) | $(DEPS_STAMP)
	scripts/install-deps fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_CONFIG_SRCS) -o $@

fuzz: $(OUT)/fuzz_format $(OUT)/fuzz_config
	mkdir -p $(OUT)/fuzz/format $(OUT)/fuzz/config
	$(OUT)/fuzz_format -max_total_time=$(FUZZ_SECONDS) -max_len=12000 -len_control=0 \
		-artifact_prefix=$(OUT)/fuzz/ $(OUT)/fuzz/format
	$(OUT)/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=2000 -close_fd_mask=2 \
		-artifact_prefix=$(OUT)/fuzz/ $(OUT)/fuzz/config tests/fuzz/seeds/config

# The same build/netlogd booted on other kernels under qemu (see tests/kernels/run):
# every end-to-end test, or GUEST_TESTS='-m every_kernel' (what CI runs).
# GUEST_INIT=systemd boots systemd as the guest's PID 1 with `make install`'s files, for
# the shipped unit's tests (GUEST_TESTS=test_service.py).
test-kernels: export NETLOG_GUEST_TESTS = $(GUEST_TESTS)
test-kernels: export NETLOG_GUEST_INIT = $(GUEST_INIT)
test-kernels: $(OUT)/netlogd $(OUT)/churn
	tests/kernels/run $(KERNELS)

bench: $(OUT)/netlogd $(OUT)/churn $(OUT)/udpflood $(OUT)/sysloop $(OUT)/uringloop $(OUT)/floor $(OUT)/ringbench $(OUT)/fmtbench
	scripts/install-deps bench
	bench/run $(BENCH_ARGS)

# Where `make install` puts things; DESTDIR stages them (packaging, tests).
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
LOGDIR ?= /var/log/netlog
# systemd makes the log directory when it is under /var/log (LogsDirectory= is relative to it)
LOGSDIRECTORY = $(patsubst /var/log/%,%,$(filter /var/log/%,$(LOGDIR)))
UNIT_LOGSDIR = $(if $(LOGSDIRECTORY),-e 's|^LogsDirectory=.*|LogsDirectory=$(LOGSDIRECTORY)|',-e '/^LogsDirectory/d')

# The daemon, its manual pages, a systemd unit, a logrotate rule, and a
# configuration file unless one is there already (it is never overwritten).
install: $(OUT)/netlogd
	install -D -m 755 $(OUT)/netlogd $(DESTDIR)$(SBINDIR)/netlogd
	install -D -m 644 man/netlogd.8 $(DESTDIR)$(MANDIR)/man8/netlogd.8
	install -D -m 644 man/netlog.conf.5 $(DESTDIR)$(MANDIR)/man5/netlog.conf.5
	mkdir -p $(DESTDIR)$(UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $(UNIT_LOGSDIR) dist/netlogd.service.in > $(DESTDIR)$(UNITDIR)/netlogd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/netlogd.service
	sed 's|/var/log/netlog/|$(LOGDIR)/|' dist/netlog.logrotate > $(OUT)/netlog.logrotate
	install -D -m 644 $(OUT)/netlog.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/netlog
	install -d -m 750 $(DESTDIR)$(LOGDIR)
	if [ ! -e $(DESTDIR)$(SYSCONFDIR)/netlog/netlog.conf ]; then \
		sed 's|/var/log/netlog/|$(LOGDIR)/|' dist/netlog.conf > $(OUT)/netlog.conf && \
		install -D -m 644 $(OUT)/netlog.conf $(DESTDIR)$(SYSCONFDIR)/netlog/netlog.conf; \
	fi

# Everything install put there but the configuration and the logs.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/netlogd $(DESTDIR)$(MANDIR)/man8/netlogd.8 \
		$(DESTDIR)$(MANDIR)/man5/netlog.conf.5 $(DESTDIR)$(UNITDIR)/netlogd.service \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d/netlog

clean:
	rm -rf $(OUT)

-include $(wildcard $(OUT)/*.d)
