# dlock - one plain GNU Makefile. `make help` lists the targets.
#
#   make                 build everything (BUILD=build)
#   make test            unit tests, crash-point test, simulator seeds (Raft, lock service), system tests
#   make unit            the unit tests and scripted scenarios (no dlockd process)
#   make integration     libdlock against real dlockd processes (tests/integration)
#   make client-test     libdlock's tests, unit and integration (CI: under SANITIZE=thread)
#   make system          the system tests: real dlockd processes (tests/system, python3)
#   make sim SEEDS=N SEED0=S [SIM_ARGS=--fsm]  simulator seeds S..S+N-1 (--fsm: the lock service)
#   make bench           the replication benchmark (bench/)
#   make deb             the Debian packages (debian/), into $(BUILD)/deb/
#   SANITIZE=address,undefined  build with sanitizers (in build-san/ by default)
#   WERROR=1             warnings are errors (CI sets it)

CC      ?= cc
SANITIZE ?=
WERROR  ?=
OPT     ?= -O2
ifeq ($(SANITIZE),)
BUILD   ?= build
else
BUILD   ?= build-san
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wimplicit-fallthrough -Wno-unused-parameter
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -Isrc -Iinclude -Itests -MMD -MP
# src/tls: TLS over memory (OpenSSL between buffers, no socket), which
# dlockd's ports (clients' and peers') and libdlock's connections use.
SSL_LIBS := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
TLS_SRC  := $(wildcard src/tls/*.c)
LDLIBS  += -lpthread $(SSL_LIBS)
ifneq ($(WERROR),)
CFLAGS  += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Built by folder. The core: what all share (src/common), the Raft core
# (src/raft), the lock state machine and the replica (src/lock), all pure,
# and the log and snapshot files (src/store); none includes <uv.h>
# (tests/layers.sh checks it).
CORE_SRC   := $(wildcard src/common/*.c src/raft/*.c src/lock/*.c src/store/*.c)
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
CORE_LIB   := $(BUILD)/libdlockcore.a

HARNESS_OBJ := $(BUILD)/tests/harness.o
UNIT_SRC   := $(filter-out tests/unit/test_client%,$(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# tests/sim: cluster.c is the simulated cluster (nodes, network, disks,
# invariant checks), shared by the seeded simulator (sim.c) and the scripted
# scenarios (test_*.c there, run by the house harness); lock*.c run the lock
# service on it and check it (sim --fsm).
SIMLIB_SRC := $(filter-out tests/sim/sim.c tests/sim/test_%.c,$(wildcard tests/sim/*.c))
SIMLIB_OBJ := $(SIMLIB_SRC:%.c=$(BUILD)/%.o)
SIM_BIN    := $(BUILD)/sim
SCEN_SRC   := $(wildcard tests/sim/test_*.c)
SCEN_BIN   := $(SCEN_SRC:tests/sim/%.c=$(BUILD)/tests/sim_%)
BENCH_BIN  := $(BUILD)/bench/raft-bench
DISKBENCH_BIN := $(BUILD)/bench/disk-bench
# dlock-bench: the lock services side by side (bench/README or
# docs/benchmarks.md); etcd's client uses libcurl, ZooKeeper's its C client.
LOCKBENCH_BIN := $(BUILD)/bench/dlock-bench
LOCKBENCH_SRC := $(wildcard bench/dlock_bench.c bench/sys_*.c)
LOCKBENCH_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl) -lzookeeper_mt

# dlockd: the process and its libuv edges (src/server) over the core. All
# of src/server but main.c is a library too, which the unit tests of its
# parts that do no I/O (config, datadir, peerids) link.
UV_CFLAGS  := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
SERVER_SRC := $(filter-out src/server/main.c,$(wildcard src/server/*.c)) $(TLS_SRC)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
SERVER_LIB := $(BUILD)/libdlockserver.a
DLOCKD_OBJ := $(BUILD)/src/server/main.o $(SERVER_OBJ)
DLOCKD_BIN := $(BUILD)/dlockd

# libdlock: the client library (src/client/ and the common code that never
# aborts), static and shared, defining no global symbol but the DLOCK_API
# functions (dlock_*): the objects are compiled with -fvisibility=hidden, and
# libdlock.a holds one object, linked from them with ld -r, whose hidden
# symbols objcopy makes local (tests/symbols.sh checks both libraries). dlock,
# the tool, uses only include/dlock.h. The client tests
# (tests/unit/test_client*.c, tests/integration/) reach the library's
# internals: they link libdlock_internal.a, the same objects as they are.
CLIENT_SRC := $(wildcard src/client/*.c) src/common/resp.c \
              src/common/resp_write.c src/common/buf.c src/common/alloc.c \
              $(TLS_SRC)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/pic/%.o)
CLIENT_LIB := $(BUILD)/libdlock.a
CLIENT_SO  := $(BUILD)/libdlock.so
CLIENT_INTERNAL_LIB := $(BUILD)/libdlock_internal.a
OBJCOPY    ?= objcopy
CLI_SRC    := $(wildcard src/cli/*.c)
DLOCK_BIN  := $(BUILD)/dlock
# (built once src/cli/ has sources)
DLOCK_ALL  := $(if $(CLI_SRC),$(DLOCK_BIN))
CLIENT_TEST_SRC := $(wildcard tests/unit/test_client*.c)
CLIENT_TEST_BIN := $(CLIENT_TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# tests/integration: libdlock against real dlockd processes (on 127.0.0.1,
# $$DLOCKD), in the house harness.
INTEG_SRC  := $(wildcard tests/integration/test_*.c)
INTEG_BIN  := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
PREFIX     ?= /usr/local

# tests/fuzz: fuzz_X.c is a libFuzzer target over corpus/X/. `make fuzz`
# builds them with clang and runs each for FUZZ_SECONDS; `make test` replays
# every corpus through the same targets built with replay.c instead.
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/tests/replay_%)
FUZZ_SECONDS ?= 60
FUZZ_CC    ?= clang

SEEDS      ?= 1000
SEED0      ?= 1
TEST_SEEDS ?= 2000
PYTHON     ?= python3

.PHONY: all programs deb test unit integration client-test sim bench fuzz clean help format format-check deps dlockd dlock install system faults faults-long faults-redis faults-redis-py python-client java-client go-client node-client conformance raft-bench
# Keep object files that pattern rules chain through.
.SECONDARY:

all: $(CORE_LIB) $(DLOCKD_BIN) $(CLIENT_LIB) $(CLIENT_SO) $(DLOCK_ALL) $(CLIENT_TEST_BIN) $(INTEG_BIN) $(UNIT_BIN) $(SCEN_BIN) $(SIM_BIN) $(BENCH_BIN) $(DISKBENCH_BIN) $(LOCKBENCH_BIN) $(REPLAY_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(BUILD)/pic/libdlock.o: $(CLIENT_OBJ)
	$(LD) -r $^ -o $@
	$(OBJCOPY) --localize-hidden $@

# (The Makefile too: an archive from before libdlock.o is rebuilt, though
# .SECONDARY lets make skip a missing libdlock.o.)
$(CLIENT_LIB): $(BUILD)/pic/libdlock.o Makefile
	@rm -f $@
	$(AR) rcs $@ $<

$(CLIENT_INTERNAL_LIB): $(CLIENT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(CLIENT_SO): $(CLIENT_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libdlock.so.0 $^ -o $@ $(LDLIBS)

# The tool writes --json with the core's JSON writer (src/common/json.h)
# and reads SERVER.STATUS with its reader (jsonparse.h);
# libdlock keeps its own copies of the common code to itself.
CLI_COMMON := src/common/json.c src/common/jsonparse.c src/common/buf.c \
              src/common/alloc.c
$(DLOCK_BIN): $(CLI_SRC:%.c=$(BUILD)/%.o) $(CLI_COMMON:%.c=$(BUILD)/%.o) $(CLIENT_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The tool's pure parts (durations, JSON) are unit-tested.
$(BUILD)/tests/test_cli: $(BUILD)/tests/unit/test_cli.o $(BUILD)/src/cli/duration.o \
    $(BUILD)/src/cli/json.o $(HARNESS_OBJ) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/test_client%: $(BUILD)/tests/unit/test_client%.o $(HARNESS_OBJ) $(CLIENT_INTERNAL_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/integration/test_%: $(BUILD)/tests/integration/test_%.o $(HARNESS_OBJ) $(CLIENT_INTERNAL_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# libdlock over TLS makes its certificates with OpenSSL (tests/tls_pki.c).
$(BUILD)/tests/integration/test_client_tls: $(BUILD)/tests/integration/test_client_tls.o \
    $(BUILD)/tests/tls_pki.o $(HARNESS_OBJ) $(CLIENT_INTERNAL_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# make install PREFIX=... DESTDIR=...: dlockd and dlock (which links
# libdlock statically) in bin/, libdlock.so.0, libdlock.so and libdlock.a in
# LIBDIR (PREFIX/lib; Debian's packages give /usr/lib/<multiarch>), dlock.h
# in include/, dlock.pc in LIBDIR/pkgconfig/, the manual pages dlockd(8) and
# dlock(1) (man/) in MANDIR (PREFIX/share/man). Programs built with
# `pkg-config --libs dlock` find libdlock.so at run time: in /usr and
# /usr/local through the loader's cache (refreshed with ldconfig when root
# installs there without DESTDIR), under any other prefix through the rpath
# that dlock.pc adds. dlock.pc is written at each install, for its PREFIX.
# The version is include/dlock.h's (DLOCK_VERSION); debian/changelog's
# upstream version must be the same (make deb checks it).
LIBDIR     ?= $(PREFIX)/lib
MANDIR     ?= $(PREFIX)/share/man
VERSION    := $(shell sed -n 's/^\#define DLOCK_VERSION "\(.*\)"$$/\1/p' include/dlock.h)
SYSTEM_PREFIX := $(filter /usr /usr/local,$(PREFIX))
PC_RPATH := $(if $(SYSTEM_PREFIX),,-Wl,-rpath,$${libdir} )
# libdir as dlock.pc writes it: under ${prefix} when LIBDIR is.
PC_LIBDIR_VALUE := $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_LIBDIR := $(DESTDIR)$(LIBDIR)/pkgconfig
INSTALLED := $(CLIENT_LIB) $(CLIENT_SO) $(DLOCK_BIN) $(DLOCKD_BIN)

# What make install installs, built alone (the Debian packages' build).
programs: $(INSTALLED)

install: $(INSTALLED)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/bin $(PC_LIBDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 644 include/dlock.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(CLIENT_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(CLIENT_SO) $(DESTDIR)$(LIBDIR)/libdlock.so.0
	ln -sf libdlock.so.0 $(DESTDIR)$(LIBDIR)/libdlock.so
	printf 'prefix=%s\nlibdir=%s\nincludedir=$${prefix}/include\n\nName: dlock\nDescription: client library of dlock, the distributed lock service\nVersion: %s\nLibs: -L$${libdir} %s-ldlock -lpthread\nLibs.private: -lssl -lcrypto\nCflags: -I$${includedir}\n' \
	    '$(PREFIX)' '$(PC_LIBDIR_VALUE)' '$(VERSION)' '$(PC_RPATH)' > $(PC_LIBDIR)/dlock.pc
	install -m 755 $(DLOCK_BIN) $(DLOCKD_BIN) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/dlock.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/dlockd.8 $(DESTDIR)$(MANDIR)/man8/
	@if [ -n "$(SYSTEM_PREFIX)" ] && [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	    command -v ldconfig >/dev/null; then echo ldconfig; ldconfig; fi

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SERVER_LIB): $(SERVER_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(HARNESS_OBJ) $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(UV_LIBS) $(LDLIBS)

# TLS's test makes its certificates with OpenSSL (tests/tls_pki.c).
$(BUILD)/tests/test_tls: $(BUILD)/tests/unit/test_tls.o $(BUILD)/tests/tls_pki.o $(HARNESS_OBJ) $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(UV_LIBS) $(LDLIBS)

$(SIM_BIN): $(BUILD)/tests/sim/sim.o $(SIMLIB_OBJ) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/sim_test_%: $(BUILD)/tests/sim/test_%.o $(SIMLIB_OBJ) $(HARNESS_OBJ) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

dlockd: $(DLOCKD_BIN)

# The command-line tool alone (start.sh builds it beside dlockd).
dlock: $(DLOCK_BIN)

$(DLOCKD_OBJ): CFLAGS += $(UV_CFLAGS)

# The status page's files are part of page.o (src/server/page.c).
$(BUILD)/src/server/page.o: $(wildcard src/server/page/*)

$(DLOCKD_BIN): $(BUILD)/src/server/main.o $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(UV_LIBS) $(LDLIBS)

$(LOCKBENCH_BIN): $(LOCKBENCH_SRC:%.c=$(BUILD)/%.o) $(CLIENT_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LOCKBENCH_LIBS) $(LDLIBS)

$(DISKBENCH_BIN): $(BUILD)/bench/disk_bench.o
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BENCH_BIN): $(BUILD)/bench/raft_bench.o $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Iinclude \
	    -fsanitize=fuzzer,address,undefined $^ -o $@ $(LDLIBS)

# The TLS target runs OpenSSL's engine through src/tls, with certificates
# it makes (tests/tls_pki.c).
$(BUILD)/tests/replay_tls: $(BUILD)/tests/fuzz/fuzz_tls.o $(BUILD)/tests/fuzz/replay.o \
    $(BUILD)/src/tls/tls.o $(BUILD)/tests/tls_pki.o $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/fuzz/fuzz_tls: tests/fuzz/fuzz_tls.c $(TLS_SRC) tests/tls_pki.c $(CORE_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Iinclude -Itests \
	    -fsanitize=fuzzer,address,undefined $^ -o $@ $(LDLIBS)

fuzz: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
	@for t in $(FUZZ_NAMES); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$t tests/fuzz/crashes; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        -artifact_prefix=tests/fuzz/crashes/ \
	        $(BUILD)/fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# The client conformance suite's drivers (tests/conformance).
CONFORMANCE_BIN := $(BUILD)/tests/conformance-libdlock $(BUILD)/faults-fenced-store
CONFORMANCE_ENV := CONFORMANCE_LIBDLOCK=$(BUILD)/tests/conformance-libdlock \
                   CONFORMANCE_GO=$(BUILD)/tests/conformance-go \
                   FENCED_STORE=$(BUILD)/faults-fenced-store

# The README's test command. Each step ends with "N passed, N failed" (and
# ", N skipped" when tests skipped themselves), shown after the step's name;
# then the skipped tests with their reasons, and the sums, "N passed, N
# failed, N skipped".
test: $(UNIT_BIN) $(CLIENT_TEST_BIN) $(INTEG_BIN) $(SCEN_BIN) $(SIM_BIN) $(REPLAY_BIN) $(DLOCKD_BIN) $(DLOCK_ALL) \
      $(CLIENT_LIB) $(CLIENT_SO) $(BUILD)/faults-failio.so $(LOCKBENCH_BIN) $(CONFORMANCE_BIN)
	@DLOCKD=$(DLOCKD_BIN) DLOCK=$(DLOCK_BIN) DLOCK_BENCH=$(LOCKBENCH_BIN) $(CONFORMANCE_ENV) sh tests/run.sh $(UNIT_BIN) $(CLIENT_TEST_BIN) $(SCEN_BIN) $(REPLAY_BIN:%=%@) $(INTEG_BIN) \
	    -- tests/symbols.sh $(CLIENT_LIB) $(CLIENT_SO) -- tests/layers.sh \
	    -- $(SIM_BIN) --seeds $(TEST_SEEDS) --seed0 1 \
	    -- $(SIM_BIN) --fsm --seeds $(TEST_SEEDS) --seed0 1 -- $(PYTHON) tests/system/run.py \
	    -- $(PYTHON) tests/faults/test_check.py -- $(PYTHON) clients/python/tests/run.py \
	    -- $(PYTHON) clients/java/test.py -- $(PYTHON) clients/go/test.py \
	    -- $(PYTHON) clients/node/test.py -- $(PYTHON) tests/conformance/run.py

unit: $(UNIT_BIN) $(CLIENT_TEST_BIN) $(SCEN_BIN)
	@sh tests/run.sh $(UNIT_BIN) $(CLIENT_TEST_BIN) $(SCEN_BIN) --

# tests/integration: libdlock against real dlockd processes.
integration: $(INTEG_BIN) $(DLOCKD_BIN)
	@DLOCKD=$(DLOCKD_BIN) sh tests/run.sh $(INTEG_BIN) --

# libdlock's tests, unit and integration: the library's keeper threads and the
# threads of the programs that call it. CI runs them built with
# SANITIZE=thread (BUILD=build-tsan) against CLIENT_TEST_DLOCKD, the dlockd
# of its ordinary build.
CLIENT_TEST_DLOCKD ?= $(DLOCKD_BIN)
client-test: $(CLIENT_TEST_BIN) $(INTEG_BIN) $(filter $(DLOCKD_BIN),$(CLIENT_TEST_DLOCKD))
	@DLOCKD=$(CLIENT_TEST_DLOCKD) sh tests/run.sh $(CLIENT_TEST_BIN) $(INTEG_BIN) --

# The client conformance suite (tests/conformance): the same scenarios for
# every client's driver, against dlockd processes.
conformance: $(CONFORMANCE_BIN) $(DLOCKD_BIN)
	@DLOCKD=$(DLOCKD_BIN) $(CONFORMANCE_ENV) sh tests/run.sh -- $(PYTHON) tests/conformance/run.py

# The Go client (clients/go): go vet, go test -race against dlockd processes,
# its fuzz target briefly; builds the conformance suite's Go driver.
go-client: $(DLOCKD_BIN)
	@DLOCKD=$(DLOCKD_BIN) $(CONFORMANCE_ENV) sh tests/run.sh -- $(PYTHON) clients/go/test.py

# The Node.js client (clients/node, TypeScript): npm ci, tsc, node --test.
node-client: $(DLOCKD_BIN)
	@DLOCKD=$(DLOCKD_BIN) sh tests/run.sh -- $(PYTHON) clients/node/test.py

# The Java client (clients/java, Maven): its JUnit tests against dlockd processes.
java-client: $(DLOCKD_BIN)
	@DLOCKD=$(DLOCKD_BIN) sh tests/run.sh -- $(PYTHON) clients/java/test.py

# The Python client (clients/python): its pytest tests against dlockd processes.
python-client: $(DLOCKD_BIN)
	@DLOCKD=$(DLOCKD_BIN) sh tests/run.sh -- $(PYTHON) clients/python/tests/run.py

# tests/system: dlockd processes on 127.0.0.1; SYSTEM_ARGS filters tests by name.
system: $(DLOCKD_BIN) $(DLOCK_ALL) $(BUILD)/faults-failio.so $(LOCKBENCH_BIN)
	DLOCKD=$(DLOCKD_BIN) DLOCK=$(DLOCK_BIN) DLOCK_BENCH=$(LOCKBENCH_BIN) $(PYTHON) tests/system/run.py $(SYSTEM_ARGS)

# tests/faults: the fault campaign on real processes (a 3-node cluster, the
# workload driver, fenced registers), DURATION seconds, SEED to replay one.
DURATION ?= 180
FAULTS_BIN := $(BUILD)/faults-worker $(BUILD)/faults-fenced-store $(BUILD)/faults-replay \
              $(BUILD)/faults-failio.so

# The worker's Redis client (redis_ops.c) uses the RESP codec of the core
# library: libdlock keeps its own copy to itself.
$(BUILD)/faults-worker: $(BUILD)/tests/faults/worker.o $(BUILD)/tests/faults/redis_ops.o $(CLIENT_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# libdlock's driver of the client conformance suite (tests/conformance).
$(BUILD)/tests/conformance-libdlock: $(BUILD)/tests/conformance/drivers/libdlock_driver.o $(CLIENT_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/faults-replay: $(BUILD)/tests/faults/replay.o $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/faults-failio.so: tests/faults/failio.c
	$(CC) -std=c11 -O2 -g -Wall -Wextra -shared -fPIC $< -o $@ -ldl

$(BUILD)/faults-fenced-store: examples/fenced-store/fenced-store.c
	$(CC) -std=c11 -O2 -g -Wall -Wextra $< -o $@

faults: $(FAULTS_BIN) $(DLOCKD_BIN) $(DLOCK_ALL)
	DLOCKD=$(DLOCKD_BIN) DLOCK=$(DLOCK_BIN) $(PYTHON) tests/faults/campaign.py \
	    --duration $(DURATION) --build $(BUILD) $(if $(SEED),--seed $(SEED)) $(FAULTS_ARGS)

# An hour of campaign: 3 servers, then 5.
faults-long: $(FAULTS_BIN) $(DLOCKD_BIN) $(DLOCK_ALL)
	$(MAKE) faults DURATION=1800
	$(MAKE) faults DURATION=1800 FAULTS_ARGS="--nodes 5 $(FAULTS_ARGS)"

# The same workload against Redis (tests/faults/redis_campaign.py): one
# instance, then Redlock over three; violations are reported, not failed on.
faults-redis: $(BUILD)/faults-worker $(BUILD)/faults-fenced-store
	$(PYTHON) tests/faults/redis_campaign.py --mode redis --duration $(DURATION) \
	    --build $(BUILD) $(if $(SEED),--seed $(SEED)) $(FAULTS_REDIS_ARGS)
	$(PYTHON) tests/faults/redis_campaign.py --mode redlock --duration $(DURATION) \
	    --build $(BUILD) $(if $(SEED),--seed $(SEED)) $(FAULTS_REDIS_ARGS)

# The same redis-py Lock code (tests/faults/redispy_driver.py) against Redis
# with a replica and Sentinel's failover, then against a dlock cluster
# (docs/safety.md): Redis's violations are reported, dlock's fail the run.
faults-redis-py: $(FAULTS_BIN) $(DLOCKD_BIN) $(DLOCK_ALL)
	$(PYTHON) tests/faults/redis_campaign.py --mode sentinel --duration $(DURATION) \
	    --build $(BUILD) $(if $(SEED),--seed $(SEED)) $(FAULTS_REDIS_ARGS)
	$(MAKE) faults FAULTS_ARGS="--driver redis-py $(FAULTS_ARGS)"

sim: $(SIM_BIN)
	$(SIM_BIN) --seeds $(SEEDS) --seed0 $(SEED0) $(SIM_ARGS)

# The comparison of lock services (bench/compare.py, docs/benchmarks.md);
# raft-bench measures the replication core alone.
# Three rounds of 5 s cells (about 35 minutes): this machine's speed moves
# by minutes, and a cell is the median round.
COMPARE_ARGS ?= --duration 5 --warmup 2 --rounds 3
bench: $(LOCKBENCH_BIN) $(DLOCKD_BIN)
	@sh scripts/deps.sh bench
	$(PYTHON) bench/compare.py --build $(BUILD) $(COMPARE_ARGS)

raft-bench: $(BENCH_BIN)
	$(BENCH_BIN) $(BENCH_ARGS)

# The Debian packages (debian/; docs/operations.md, "Installing the Debian
# packages"): dpkg-buildpackage, unsigned and binary only, in a copy of the
# source at $(DEB_DIR)/src (the files git tracks, and new ones it does not
# ignore), so that the source tree gets none of the build's files; the
# packages land in $(DEB_DIR). debian/changelog's upstream version must be
# include/dlock.h's. lintian then checks them, when it is installed: an
# error or a warning fails the target. The tags accepted: those in
# debian/*.lintian-overrides, each with its reason, and
# initial-upload-closes-no-bugs: these packages are not uploaded to Debian,
# so there is no bug asking for them to close. The outer make's flags
# (MAKEFLAGS) are not passed on, and debian/rules sets the variables its
# make needs, whatever the environment has.
DEB_DIR  ?= $(BUILD)/deb
DEB_JOBS ?= 2
LINTIAN_ACCEPT := initial-upload-closes-no-bugs
deb:
	@v=$$(dpkg-parsechangelog -S Version) && [ "$${v%-*}" = "$(VERSION)" ] || \
	    { echo "deb: debian/changelog's version is $$v, include/dlock.h's $(VERSION)" >&2; exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	git ls-files -z --cached --others --exclude-standard | \
	    tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b -J$(DEB_JOBS)
	@if command -v lintian >/dev/null; then echo "lintian $(DEB_DIR)/*.changes"; \
	    lintian --fail-on error,warning --suppress-tags $(LINTIAN_ACCEPT) $(DEB_DIR)/*.changes; fi
	@ls $(DEB_DIR)/*.deb

deps:
	@sh scripts/deps.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-tsan

help:
	@sed -n '1,13p' Makefile

# (Not those of make deb's build, in its own tree.)
-include $(shell find $(BUILD) -path $(DEB_DIR) -prune -o -name '*.d' -print 2>/dev/null)
