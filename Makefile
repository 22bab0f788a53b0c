# Builds huellad, huellactl, the unit tests and the benches.
# The nginx module is built by build.sh against Debian's nginx-dev.
#
#   make                      release build into build/
#   make SAN=1 BUILD=build/asan   AddressSanitizer + UBSan build

BUILD   ?= build
SAN     ?= 0
CC      ?= cc

CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -pthread \
           -Imatcher -MMD -MP
LDLIBS  := -llmdb -lyaml -ljansson -lcrypto -largon2 -licuuc -licudata -lm -pthread

ifeq ($(FUZZ),1)
CC      := clang
CFLAGS  += -O1 -fsanitize=fuzzer-no-link,address,undefined \
           -fno-omit-frame-pointer
LDFLAGS += -fsanitize=fuzzer,address,undefined
else ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
           -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O3 -march=x86-64-v2
endif

MAINS      := matcher/huellad.c matcher/huellactl.c
LIB_SRCS   := $(filter-out $(MAINS),$(wildcard matcher/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS  := $(wildcard tests/unit/test_*.c)
TESTS      := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES    := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

all: $(BUILD)/bin/huellad $(BUILD)/bin/huellactl $(TESTS) $(BENCHES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libhuella.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/matcher/%.o $(BUILD)/libhuella.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libhuella.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(shell pkg-config --libs check)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libhuella.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# libFuzzer targets: make FUZZ=1 BUILD=build/fuzz fuzzers
fuzzers: $(FUZZERS)

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/libhuella.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# the nginx module's parsers: against nginx-dev's headers and the
# ngx_auto_config.h of ./build.sh's configure (build/nginx), with
# tests/fuzz/ngx_stubs.c for the nginx functions they call
NGX_INCS := $(addprefix -I/usr/share/nginx/src/src/,core event \
              event/modules os/unix http http/modules http/v2) \
            -Ibuild/nginx -Ingx_module -Itests/fuzz -Wno-unused-parameter
NGX_FUZZ := $(addprefix $(BUILD)/obj/,tests/fuzz/ngx_stubs.o \
              ngx_module/ngx_http_huella_fields.o \
              ngx_module/ngx_http_huella_ident.o)
$(BUILD)/obj/ngx_module/%.o $(BUILD)/obj/tests/fuzz/%.o: CFLAGS += $(NGX_INCS)
$(BUILD)/fuzz/fuzz_json_fields: $(NGX_FUZZ)
$(BUILD)/fuzz/fuzz_signature_headers: $(NGX_FUZZ) \
              $(BUILD)/obj/ngx_module/ngx_http_huella_sf.o

.PRECIOUS: $(BUILD)/obj/%.o
.PHONY: all fuzzers

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
