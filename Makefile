# keel — a plain Makefile. Two builds side by side:
#   build/asan/     -O1 with AddressSanitizer + UndefinedBehaviorSanitizer
#                   (what `make test` runs)
#   build/release/  -O2 (what `make run` and benchmarks use)
#
#   make            build both
#   make test       tidy check, unit suites, scenario scripts, 1000 sim seeds
#   make sim SEEDS=n [SEED=s]   more seeds of both simulators: the Raft core's
#                   (build/asan/sim) and the whole node's (build/asan/nsim);
#                   SEED alone replays one in both, each run twice, and says
#                   whether the two runs' traces are the same
#   make run        a local 3-node keel cluster on 127.0.0.1-3, ports 7001-7003
#   make story      a simulated 3-node cluster with faults, told as a story
#   make mutants    generated mutants of the safety-critical files against the
#                   fast suites: kill rate per file and folder (tools/mutagen.py;
#                   MUTANTS_MAX, MUTANTS_SEED, MUTANTS_FILES, MUTANTS_MIN_RATE)
#   make mutants-hand   apply each deliberate bug and check the tests catch it
#   make mutants-shards slot migration's deliberate bugs, each caught by the
#                       whole-node simulator (tests/nsim/mutants/)
#   make bench      keel against redis-server and etcd (BENCH_N requests a test,
#                   the median of BENCH_REPS runs)
#   make bench-storage   group commit and recovery against the disk's limits
#   make bench-ops       snapshot cost and catch-up of a new node (BENCH_OPS_GIB)
#   make bench-replica   read replicas: throughput, catch-up, lag (BENCH_REPLICA_GIB)
#   make bench-shards    3 shards against 1 (redis-benchmark --cluster), CPU a
#                        request, and 1000 idle groups' CPU and memory
#   make fuzz       every libFuzzer harness of tests/fuzz/ for FUZZ_SECONDS each

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

LIBS := -luv -lzstd -pthread
COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Isrc -Itests -MMD -MP
ASAN := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
RELEASE := -O2

# The command table is generated from one spec file per command
# (tools/gen_commands.py checks them and fails the build on a bad one).
CMD_SPECS := $(wildcard src/kv/commands/*.json)
CMD_TABLE := build/gen/kv/commands.c
SRC := $(filter-out src/server/main.c,$(wildcard src/*/*.c)) $(CMD_TABLE)
SIM_SRC := $(filter-out %_main.c,$(wildcard tests/sim/*.c))
SIM_MAINS := $(patsubst tests/sim/%_main.c,%,$(wildcard tests/sim/*_main.c))
# The whole-node simulator (tests/nsim/): keel's own objects without
# libuv and without the POSIX files and clocks, which tests/nsim/uvsim.c
# and world.c replace.
NSIM_KEEL_SRC := $(filter-out src/io/fs_posix.c src/io/clock_posix.c,$(SRC))
NSIM_SRC := $(filter-out tests/nsim/selftest.c,$(wildcard tests/nsim/*.c))
NSIM_LIBS := -lzstd -pthread
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS := $(patsubst tests/unit/%.c,%,$(UNIT_SRC))
TOOLS := $(patsubst tools/%.c,%,$(wildcard tools/*.c))
CLI_SRC := $(wildcard tools/cli/*.c)

DEPS_STAMP := build/.deps-ok

# `make` alone builds both variants
.DEFAULT_GOAL := all

# $(1) = variant name, $(2) = its flags
define VARIANT
$(1)_OBJ := $$(patsubst %.c,build/$(1)/obj/%.o,$$(SRC))
$(1)_SIM_OBJ := $$(patsubst %.c,build/$(1)/obj/%.o,$$(SIM_SRC))

build/$(1)/obj/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(COMMON) $(2) -c $$< -o $$@

$(1)_NSIM_KEEL_OBJ := $$(patsubst %.c,build/$(1)/obj/%.o,$$(NSIM_KEEL_SRC))

build/$(1)/libkeel-nsim.a: $$($(1)_NSIM_KEEL_OBJ)
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/nsim-selftest: $$(patsubst %.c,build/$(1)/obj/%.o,tests/nsim/selftest.c \
		tests/nsim/world.c tests/nsim/uvsim.c tests/sim/simfs.c) build/$(1)/libkeel-nsim.a
	$$(CC) $(2) $$^ $(NSIM_LIBS) -o $$@

build/$(1)/nsim: $$(patsubst %.c,build/$(1)/obj/%.o,$$(NSIM_SRC) tests/sim/simfs.c \
		tests/sim/linearize.c) $$($(1)_NSIM_KEEL_OBJ)
	$$(CC) $(2) $$^ $(NSIM_LIBS) -o $$@

build/$(1)/libkeel.a: $$($(1)_OBJ)
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/libsim.a: $$($(1)_SIM_OBJ)
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/%: build/$(1)/obj/tests/sim/%_main.o build/$(1)/libsim.a build/$(1)/libkeel.a
	$$(CC) $(2) $$^ $(LIBS) -o $$@

build/$(1)/unit/%: build/$(1)/obj/tests/unit/%.o build/$(1)/libsim.a build/$(1)/libkeel.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ -lcmocka $(LIBS) -o $$@

build/$(1)/faults/wal_driver: build/$(1)/obj/tests/faults/wal_driver.o build/$(1)/libkeel.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $(LIBS) -o $$@

build/$(1)/keel-server: build/$(1)/obj/src/server/main.o build/$(1)/libkeel.a
	$$(CC) $(2) $$^ $(LIBS) -o $$@

build/$(1)/diff/diff: build/$(1)/obj/tests/diff/diff_main.o build/$(1)/libkeel.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $(LIBS) -o $$@

build/$(1)/keel-cli: $$(patsubst %.c,build/$(1)/obj/%.o,$$(CLI_SRC)) build/$(1)/libkeel.a
	$$(CC) $(2) $$^ $(LIBS) -o $$@

build/$(1)/tools/%: build/$(1)/obj/tools/%.o build/$(1)/libsim.a build/$(1)/libkeel.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $(LIBS) -o $$@

$(1): $$(addprefix build/$(1)/,$$(SIM_MAINS)) $$(addprefix build/$(1)/unit/,$$(UNITS)) \
	build/$(1)/faults/wal_driver build/faults/shim.so $$(addprefix build/$(1)/tools/,$$(TOOLS)) \
	build/$(1)/diff/diff build/$(1)/keel-server build/$(1)/keel-cli build/$(1)/nsim-selftest \
	build/$(1)/nsim

-include $$(shell find build/$(1)/obj -name '*.d' 2>/dev/null)
endef

$(CMD_TABLE): $(CMD_SPECS) src/kv/commands tools/gen_commands.py
	python3 tools/gen_commands.py src/kv/commands $@

# hiredis used as its users use it (tests/clients/run.py runs it): a C
# program of its own, linked with Debian's libhiredis, built with the asan
# variant's flags.
build/asan/clients/hiredis_cases: tests/clients/hiredis_cases.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(COMMON) $(ASAN) $< -lhiredis -o $@

asan: build/asan/clients/hiredis_cases

# The fault shim is preloaded into the driver: plain, no sanitizers.
build/faults/shim.so: tests/faults/shim.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -shared -fPIC $< -ldl -o $@

$(eval $(call VARIANT,asan,$(ASAN)))
$(eval $(call VARIANT,release,$(RELEASE)))

.PHONY: all asan release test sim nsim run story mutants mutants-hand mutants-shards tidy \
	format clean deps \
	bench bench-storage \
	bench-ops bench-replica bench-shards faults fuzz fuzzers fuzz-seeds
.SECONDARY:

all: asan release

$(DEPS_STAMP): scripts/packages.txt scripts/install-deps.sh tests/clients/package-lock.json
	@scripts/install-deps.sh
	@mkdir -p build && touch $@

deps: $(DEPS_STAMP)

test: asan fuzzers
	@tools/run-tests.sh

SEEDS ?= 1000
sim: asan
ifdef SEED
ifeq ($(origin SEEDS),command line)
	build/asan/sim --seeds $(SEEDS) --first $(SEED)
	@tools/sim-seeds.sh build/asan/nsim $(SEEDS) $(SEED)
else
	build/asan/sim --seed $(SEED) --verbose
	build/asan/nsim --seed $(SEED) --verbose
endif
else
	@tools/sim-seeds.sh build/asan/sim $(SEEDS) 1
	@tools/sim-seeds.sh build/asan/nsim $(SEEDS) 1
endif

# The whole-node simulator alone (tests/nsim/): SEED=s replays one seed
# twice (its trace, and whether the two runs' traces are the same);
# SEEDS=n runs n seeds from SEED (default 1).
nsim: asan
ifdef SEED
ifeq ($(origin SEEDS),command line)
	@tools/sim-seeds.sh build/asan/nsim $(SEEDS) $(SEED)
else
	build/asan/nsim --seed $(SEED) --verbose
endif
else
	@tools/sim-seeds.sh build/asan/nsim $(SEEDS) 1
endif

SHARDS ?= 1
run: build/release/keel-server build/release/keel-cli
	@SHARDS=$(SHARDS) scripts/run-cluster.sh

story: build/release/sim
	build/release/sim --story

# Generated mutants (tools/mutagen.py builds its own copy of the tree):
# prints every mutant's fate and the kill rate per file and per folder,
# then fails if a folder is under MUTANTS_MIN_RATE (default 95).
mutants:
	python3 tools/mutagen.py

# The hand-written deliberate bugs of tests/mutants/*.patch.
mutants-hand:
	tools/mutants.sh

# Slot migration's deliberate bugs (tests/nsim/mutants/*.patch), each
# caught by the whole-node simulator.
mutants-shards:
	tests/nsim/mutants/run.sh

# 3 shards against 1 on this machine, and idle groups (tools/bench-shards.sh).
BENCH_IDLE ?= 1000
bench-shards: release
	BENCH_N=$(BENCH_N) BENCH_REPS=$(BENCH_REPS) BENCH_IDLE=$(BENCH_IDLE) tools/bench-shards.sh

# keel against redis-server and etcd on this machine (tools/bench.sh).
bench: release
	BENCH_N=$(BENCH_N) BENCH_REPS=$(BENCH_REPS) tools/bench.sh

# The fault-injection suite on real processes: the deliberate bugs of
# tests/cluster/mutants/ must be caught, then every nemesis together for
# TIME seconds (tools/faults.sh, tests/cluster/nemesis_test.py).
TIME ?= 600
faults: asan
	tools/faults.sh teeth
	tools/faults.sh all $(TIME)

# Cluster operations: SET latency during snapshots, a new node's catch-up
# on BENCH_OPS_GIB of data beside a loopback copy (tools/bench_ops.py).
BENCH_OPS_GIB ?= 1
bench-ops: release
	/usr/bin/python3 tools/bench_ops.py build/release $(BENCH_OPS_GIB)

# read replicas: the leader's throughput with 0, 1 and 4 attached, catch-up
# of BENCH_REPLICA_GIB of data beside a loopback copy, lag under full load
# (tools/bench_replica.py).
bench-replica: release
	/usr/bin/python3 tools/bench_replica.py build/release $(BENCH_REPLICA_GIB)

# The storage benchmark: the disk's limits and the log against them.
BENCH_DIR ?= build/bench-storage
bench-storage: build/release/tools/bench_storage
	build/release/tools/bench_storage $(BENCH_DIR)

# The fuzzers (tests/fuzz/): libFuzzer harnesses over the real decoders and
# the state machine, the src/ objects built again by clang with the fuzzer's
# coverage instrumentation, ASan and UBSan, in build/fuzz/.
FUZZ_CC := clang
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(SRC) tests/sim/simfs.c)

build/fuzz/obj/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(COMMON) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libkeel.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o build/fuzz/libkeel.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(LIBS) -o $@

# The seed corpus is written by the real encoders (tests/fuzz/seeds.c).
build/fuzz/seeds: build/fuzz/obj/tests/fuzz/seeds.o build/fuzz/libkeel.a
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ $(LIBS) -o $@

# built with the fuzzers, so a changed encoder API cannot leave it behind
fuzzers: $(FUZZERS) build/fuzz/seeds

fuzz-seeds: build/fuzz/seeds
	build/fuzz/seeds tests/fuzz/corpus

FUZZ_SECONDS ?= 60
fuzz: fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh long

-include $(shell find build/fuzz/obj -name '*.d' 2>/dev/null)

tidy:
	python3 tools/tidy.py

format:
	clang-format -i $(filter-out $(CMD_TABLE),$(SRC)) $(wildcard src/*/*.h)

clean:
	rm -rf build
