# Guardian build. `make` builds libguardian (static and shared) and the
# guardian command; see `make help` for the rest.
#
# pkg-config is evaluated when make reads this file, so the targets that
# must work on a fresh machine (demo, test) run scripts/setup.sh first and
# then make again.

CC       ?= cc
BUILD    ?= build
PKGS     := libsodium zlib sqlite3 openssl libprotobuf-c yaml-0.1
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
DEP_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(BLAS_CFLAGS)
DEP_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsodium -lz -lsqlite3 -lssl -lcrypto -lprotobuf-c -lyaml) -lopenblas -lpthread -lm

OPT      ?= -O3
CFLAGS   ?= $(OPT) -g
WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SAN_FLAGS) -fPIC -Iinclude -Isrc -I$(BUILD)/proto $(DEP_CFLAGS) -MMD -MP
ifdef SAN
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/proto/guardian.pb-c.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib test check sanitize demo bench fuzz setup clean help format lint
all: $(BUILD)/guardian $(BUILD)/libguardian.so

help:
	@echo "make            build libguardian (.a, .so) and build/guardian"
	@echo "make demo       set up, build, run the main job (Fashion-MNIST)"
	@echo "make test       set up, build, run the whole test suite"
	@echo "make sanitize   the test suite under AddressSanitizer + UBSan"
	@echo "make bench      benchmarks (JSON lines), with their baselines"
	@echo "make fuzz       build the fuzz targets (clang) and run each briefly"
	@echo "make lint       grep for banned functions"

setup:
	@bash scripts/setup.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The wire messages, generated from proto/guardian.proto by protoc-c.
$(BUILD)/proto/guardian.pb-c.c $(BUILD)/proto/guardian.pb-c.h: proto/guardian.proto
	@mkdir -p $(BUILD)/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/proto/guardian.pb-c.o: $(BUILD)/proto/guardian.pb-c.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/src/net/message.o: $(BUILD)/proto/guardian.pb-c.h

$(BUILD)/libguardian.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libguardian.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(DEP_LIBS)

$(BUILD)/guardian: $(CLI_OBJ) $(BUILD)/libguardian.a
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(DEP_LIBS)

$(BUILD)/test_runner: $(TEST_OBJ) $(BUILD)/libguardian.a
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(DEP_LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libguardian.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libguardian.a $(LDFLAGS_ALL) $(DEP_LIBS)

# The suite runs from the repository root, so ../shared/vectors resolves.
check: $(BUILD)/test_runner $(BUILD)/guardian lint
	GDN_GUARDIAN=$(BUILD)/guardian ./$(BUILD)/test_runner $(TESTS)

test: setup
	@$(MAKE) --no-print-directory check

sanitize: setup
	@$(MAKE) --no-print-directory BUILD=build-san SAN=1 OPT=-O1 check

demo: setup
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh

bench: setup
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@bash bench/run.sh

# libFuzzer targets: clang, ASan + UBSan; each runs FUZZ_SECONDS.
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_LIB_SRC := $(LIB_SRC) build/proto/guardian.pb-c.c
fuzz: setup
	@$(MAKE) --no-print-directory build/proto/guardian.pb-c.c
	@mkdir -p $(FUZZ_BUILD)
	@for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  echo "fuzz: building $$n"; \
	  $(FUZZ_CC) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Ibuild/proto $(DEP_CFLAGS) \
	    $$f $(FUZZ_LIB_SRC) -o $(FUZZ_BUILD)/$$n $(DEP_LIBS) || exit 1; \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
	  cp -n fuzz/corpus/$$n/* $(FUZZ_BUILD)/corpus-$$n/ 2>/dev/null; \
	  ./$(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	    $(FUZZ_BUILD)/corpus-$$n || exit 1; \
	done

# Banned functions (STYLE.md): unbounded copies, unchecked conversions, weak rand.
lint:
	@! grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|rand|srand)\s*\(' \
	  $(LIB_SRC) $(CLI_SRC) include/guardian/*.h || (echo "lint: banned function above"; exit 1)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(BENCH_SRC) $(FUZZ_SRC) include/guardian/*.h src/*/*.h

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
