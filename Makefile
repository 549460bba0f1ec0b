# lightning-mediad — the two commands a newcomer needs:
#   make run    install what is needed, build, and run the server (embedded default, port 7100)
#   make test   install what is needed, build, and run every test
# Other targets: build, asan (tests under AddressSanitizer/UBSan), valgrind (tests under
# valgrind), fuzz (the libFuzzer targets of fuzz/, FUZZ_SECONDS each), bench (benchmarks),
# gpu-check (on a machine with an NVIDIA GPU: the CUDA kernels' parity tests, compute-sanitizer
# and timings, built with nvcc and cc alone), clean.

BUILD ?= build
ARGS ?=
MESON_TEST_ARGS ?=

.PHONY: all deps build run test asan valgrind fuzz bench gpu-check clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/server/lightning-mediad $(ARGS)

# Prints meson's log, then one summary line; fails when any test failed.
test: build
	@rm -f $(BUILD)/meson-logs/testlog.json
	@meson test -C $(BUILD) --print-errorlogs $(MESON_TEST_ARGS) > $(BUILD)/test-output.txt 2>&1; \
	  status=$$?; cat $(BUILD)/test-output.txt; \
	  ./scripts/test-summary.py $(BUILD)/meson-logs/testlog.json | tee $(BUILD)/test-summary.txt; \
	  summary=$$?; [ $$status -eq 0 ] && [ $$summary -eq 0 ]

asan: deps
	[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  meson test -C build-asan --print-errorlogs --timeout-multiplier 4 $(MESON_TEST_ARGS)

# Every test program, and every daemon the integration tests start, runs under valgrind;
# a definite leak or a memory error makes the test fail.
VALGRIND = valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--suppressions=$(CURDIR)/tests/valgrind.supp --num-callers=30
valgrind: build
	LMD_TEST_DAEMON_WRAPPER="$(VALGRIND)" LMD_SPHINX_LONG_SECONDS=30 \
	  meson test -C $(BUILD) --print-errorlogs --timeout-multiplier 20 \
	  --wrapper '$(VALGRIND)' $(MESON_TEST_ARGS)

# Every fuzz target of fuzz/ built with clang and libFuzzer (ASan+UBSan) in build-fuzz/, run for
# FUZZ_SECONDS seconds each; fails on a crash, a leak or a timeout (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60
fuzz: deps
	./scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	./scripts/run-benchmarks.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-gpu build-fuzz

# Needs only CUDA (nvcc, cuBLAS) and a C compiler: no meson, GLib or GStreamer.  ARGS go to the
# script (--build-only, --dry-run, --models tiny,base, --reps N, --no-bench).
gpu-check:
	./scripts/gpu-check.sh $(ARGS)
