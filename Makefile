# genbox - see README.md. `make run` and `make check` do all set-up on a
# fresh Debian 12 machine as root.

VERSION := 0.1.0
PKGS := sqlite3 libcjson libbson-1.0 libmongoc-1.0 hiredis libcurl inih zlib libcrypto libsystemd libcmark

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla -Werror -pthread \
	-DGENBOX_VERSION='"$(VERSION)"'
# pkg-config runs when a recipe needs it: after `deps` has installed it
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
LDFLAGS += -pthread -Wl,--as-needed
# civetweb ships no pkg-config file in Debian
LDLIBS += -lcivetweb -lm

comma := ,

# a quiet build: one "CC file" line per step; `make V=1` prints every command line
ifneq ($(V),1)
Q := @
quiet = @printf '  %-6s %s\n' '$(1)' '$(2)';
MAKEFLAGS += --no-print-directory
endif
ifdef SANITIZE
CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
# GCC leaves a cast of a double out of an integer's range out of "undefined"
ifneq ($(findstring undefined,$(SANITIZE)),)
CFLAGS += -fsanitize=float-cast-overflow
endif
BUILD := build/$(subst $(comma),-,$(SANITIZE))
else ifdef FUZZ
# libFuzzer harnesses (tests/fuzz): every object built with clang for them
CC := clang
CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
LDFLAGS += -fsanitize=fuzzer,address,undefined
BUILD := build/fuzz
else
BUILD := build/default
endif

BASE_SRC := $(wildcard base/*.c)
STORAGE_SRC := $(wildcard storage/*.c)
WEB_SRC := $(wildcard web/*.c)
SYNC_SRC := $(wildcard sync/*.c)
APP_SRC := $(filter-out appliance/main.c,$(wildcard appliance/*.c appliance/*/*.c))
LIB_SRC := $(BASE_SRC) $(STORAGE_SRC) $(WEB_SRC) $(SYNC_SRC) $(APP_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/appliance/demo_data.o $(BUILD)/web/ui_data.o
TEST_SRC := $(wildcard tests/t[0-9]*.c)
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.t)
# the sync suite runs against both MongoDB peers: t401-t404 and t406-t408 once
# more, through a wrapper that sets GENBOX_MONGO_PEER=jongodb
SYNC_PEER_TESTS := $(filter $(BUILD)/tests/t401-% $(BUILD)/tests/t402-% $(BUILD)/tests/t403-% \
	$(BUILD)/tests/t404-% $(BUILD)/tests/t406-% $(BUILD)/tests/t407-% $(BUILD)/tests/t408-%,$(TESTS))
JONGODB_TESTS := $(SYNC_PEER_TESTS:%.t=%.jongodb.t)
TEST_LIB_OBJ := $(BUILD)/tests/tap.o $(BUILD)/tests/util.o $(BUILD)/tests/peer.o $(BUILD)/tests/gentest.o \
	$(BUILD)/tests/peer-proxy.o \
	$(BUILD)/tests/peer-ceph.o \
	$(BUILD)/tests/fakegen.o \
	$(BUILD)/tests/httpc.o
# every bench/*.c is a benchmark program; bench/lib/ is what they share,
# linked as an archive so each program takes only the parts it calls
BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
BENCH_LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/lib/*.c))
BENCH_LIB := $(BUILD)/bench/lib/libbench.a
# bench/soak is one program of several files, run by `make soak` only (it is long)
SOAK_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/soak/*.c))
SOAK := $(BUILD)/bench/soak/soak
SOAK_OUT ?= $(BUILD)/soak-report
DEMO_JSON := $(sort $(wildcard appliance/demo/*.json))
# every file of the web UI, served from the binary (web/ui.h)
UI_FILES := $(sort $(shell find web/ui -type f ! -name '.*' 2>/dev/null))

# libFuzzer harnesses: tests/fuzz/fuzz-NAME.c, built with FUZZ=1 into build/fuzz
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
FUZZERS := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/tests/fuzz/%)
FUZZ_SECONDS ?= 300

GENBOX := $(BUILD)/genbox
DB ?= var/genbox.db

.SECONDARY:
.PHONY: all deps run check test bench soak clean install layers deb fuzz fuzzers

all: $(GENBOX) genbox

genbox: $(GENBOX)
	$(Q)ln -sf $(GENBOX) genbox

deps:
	@sh packaging/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

# the schema's example documents, embedded as C strings
$(BUILD)/appliance/demo_data.c: $(DEMO_JSON) Makefile
	@mkdir -p $(dir $@)
	$(call quiet,GEN,$@){ echo '/* generated from the files of appliance/demo: do not edit */'; \
	  echo '#include <stddef.h>'; \
	  echo '#include "../../../appliance/demo.h"'; \
	  echo 'const struct demo_doc demo_docs[] = {'; \
	  for f in $(DEMO_JSON); do \
	    b=$$(basename $$f .json); coll=$${b#*-}; \
	    printf '\t{ "%s", "%s",\n' "$$coll" "$$b"; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $$f; \
	    echo '	},'; \
	  done; \
	  echo '	{ NULL, NULL, NULL },'; \
	  echo '};'; } > $@

$(BUILD)/appliance/demo_data.o: $(BUILD)/appliance/demo_data.c
	$(call quiet,CC,$<)$(CC) $(CFLAGS) -c -o $@ $<

# the web UI's files as byte arrays (hex: no trigraph or length limit of a
# string literal), each followed by a NUL not counted in its length
$(BUILD)/web/ui_data.c: $(UI_FILES) web/ui Makefile
	@mkdir -p $(dir $@)
	@for f in $(UI_FILES); do \
	  case "$$f" in *[!A-Za-z0-9._/-]*) \
	    echo "$$f: only [A-Za-z0-9._-] in web/ui names" >&2; exit 1;; esac; \
	done
	$(call quiet,GEN,$@){ echo '/* generated from the files of web/ui: do not edit */'; \
	  echo '#include "../../../web/ui.h"'; \
	  i=0; for f in $(UI_FILES); do \
	    echo "static const unsigned char ui_file_$$i[] = {"; \
	    od -An -v -tx1 $$f | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/\t/'; \
	    echo '	0x00'; echo '};'; i=$$((i + 1)); \
	  done; \
	  echo 'const struct web_asset web_assets[] = {'; \
	  i=0; for f in $(UI_FILES); do \
	    case "$$f" in \
	    *.html) t='text/html; charset=utf-8';; *.js|*.mjs) t='text/javascript; charset=utf-8';; \
	    *.css) t='text/css; charset=utf-8';; *.svg) t='image/svg+xml';; *.png) t='image/png';; \
	    *.ico) t='image/x-icon';; *.json) t='application/json';; \
	    *.txt) t='text/plain; charset=utf-8';; \
	    *.woff2) t='font/woff2';; *) t='application/octet-stream';; \
	    esac; \
	    printf '\t{ "%s", "%s", ui_file_%d, sizeof(ui_file_%d) - 1 },\n' \
	      "$${f#web/ui}" "$$t" $$i $$i; \
	    i=$$((i + 1)); \
	  done; \
	  echo '	{ NULL, NULL, NULL, 0 },'; \
	  echo '};'; } > $@

$(BUILD)/web/ui_data.o: $(BUILD)/web/ui_data.c
	$(call quiet,CC,$<)$(CC) $(CFLAGS) -c -o $@ $<

$(GENBOX): $(BUILD)/appliance/main.o $(LIB_OBJ)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%.t: $(BUILD)/tests/%.o $(TEST_LIB_OBJ) $(LIB_OBJ)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(JONGODB_TESTS): %.jongodb.t: %.t
	$(call quiet,GEN,$@)printf '#!/bin/sh\nGENBOX_MONGO_PEER=jongodb exec "%s" "$$@"\n' "$(abspath $<)" > $@
	$(Q)chmod +x $@

# an LD_PRELOAD library that counts SQLite connections and injects faults (t110)
$(BUILD)/tests/fault-sqlite.so: tests/fault-sqlite.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) $(PKG_CFLAGS) -fPIC -shared -o $@ $< -ldl
$(BUILD)/tests/t110-cli-data.t: | $(BUILD)/tests/fault-sqlite.so

ifdef FUZZ
$(FUZZERS): build/fuzz/tests/fuzz/%: build/fuzz/tests/fuzz/%.o build/fuzz/tests/fuzz/fuzzlib.o \
	$(LIB_OBJ)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

fuzzers: $(FUZZERS)
else
# the harnesses carry their own sanitizers (clang's, with libFuzzer): a
# SANITIZE given to `make check SANITIZE=...` is not for them
fuzzers:
	$(MAKE) FUZZ=1 SANITIZE= fuzzers
endif

# `make fuzz [FUZZ_SECONDS=300]`: each harness that long, on a copy of its
# seeds in build/fuzz/corpus; what it finds goes to build/fuzz/crashes
fuzz: deps
	$(MAKE) FUZZ=1 SANITIZE= fuzzers
	sh tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_ONLY)

$(BENCH_LIB): $(BENCH_LIB_OBJ)
	rm -f $@
	$(call quiet,AR,$@)$(AR) rcs $@ $^

$(BENCHES): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_LIB) $(LIB_OBJ)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(SOAK): $(SOAK_OBJ) $(BENCH_LIB) $(LIB_OBJ)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# `make run`: what builds the binary (not the tests' tools), the schema's
# examples, a small batch through the example pipeline, then the daemon
run:
	@sh packaging/install-deps build
	@$(MAKE) genbox
	@mkdir -p $(dir $(DB)) var/out
	$(Q)./genbox --db $(DB) demo > $(dir $(DB))demo.log && tail -n 1 $(dir $(DB))demo.log
	$(Q)./genbox --db $(DB) run-batch --pipeline pipe_article_generation \
		--input packaging/demo-batch.jsonl --user user_456 --out var/out
	@key=$$(./genbox --db $(DB) apikey create --user user_456 --perm read,write --name "make run" 2>/dev/null) && \
	  echo "genbox is serving http://127.0.0.1:8080/ (Ctrl-C stops it)" && \
	  echo "admin API key of user_456: $$key" && \
	  exec ./genbox --db $(DB) serve --listen 127.0.0.1:8080

# tests find the binary and the repository through the environment; each
# runs through tests/tap-only, which fails it when its output holds a line
# that is not TAP. `make check V=1` shows every test's lines (prove -v).
# t700 runs each fuzzing harness of build/fuzz briefly.
PROVE = GENBOX_BIN=$(abspath $(GENBOX)) GENBOX_SRC=$(CURDIR) \
	prove $(if $(filter 1,$(V)),-v,--failures) --exec 'sh $(CURDIR)/tests/tap-only'
check: deps
	@$(MAKE) $(GENBOX) $(TESTS) $(JONGODB_TESTS)
	@$(MAKE) FUZZ=1 SANITIZE= fuzzers
	@$(MAKE) layers
	@sh packaging/check-tls $(GENBOX)
	$(call quiet,PROVE,tests/)$(PROVE) $(TESTS) $(JONGODB_TESTS)

test: $(GENBOX) $(TESTS) $(JONGODB_TESTS)
	@$(MAKE) FUZZ=1 SANITIZE= fuzzers
	$(call quiet,PROVE,tests/)$(PROVE) $(TESTS) $(JONGODB_TESTS)

bench: deps
	@sh packaging/install-deps bench
	$(MAKE) $(GENBOX) $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

# `make soak [SOAK_SECONDS=600] [SOAK_KILL_EVERY=60] [SOAK_OUT=dir]`: bench/soak
soak: deps
	@sh packaging/install-deps bench
	$(MAKE) $(GENBOX) $(SOAK)
	SOAK_OUT=$(abspath $(SOAK_OUT)) GENBOX_BIN=$(abspath $(GENBOX)) GENBOX_SRC=$(CURDIR) $(SOAK)

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary, the man page, and
# the sample settings in /etc/genbox (where the binary looks; an existing
# file is kept)
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
install: $(GENBOX)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/genbox
	install -m 0755 $(GENBOX) $(DESTDIR)$(BINDIR)/genbox
	install -m 0644 packaging/genbox.8 $(DESTDIR)$(MANDIR)/man8/genbox.8
	test -e $(DESTDIR)$(SYSCONFDIR)/genbox/genbox.conf || \
	  install -m 0644 packaging/genbox.conf $(DESTDIR)$(SYSCONFDIR)/genbox/genbox.conf

# `make deb [DEB_OUT=build/deb] [DEB_VERSION=V]`: the Debian package, built
# out of the tree in DEB_OUT and checked by lintian (packaging/build-deb)
DEB_OUT ?= build/deb
deb:
	@sh packaging/install-deps deb
	sh packaging/build-deb $(DEB_OUT) $(DEB_VERSION)

# each floor includes only its own headers and those below it
layers:
	@sh packaging/check-layers

clean:
	rm -rf build genbox

-include $(shell find build -name '*.d' -type f 2>/dev/null)
