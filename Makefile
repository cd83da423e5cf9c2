# urgen: see README.md.
GO ?= go
ARCHES := amd64 386 arm arm64 loong64 mips mipsle mips64 mips64le ppc64 ppc64le riscv64 s390x
LINUX_LIBC_DEV ?= 7.3.4-1~bpo13+1

.PHONY: all deps bench-deps bench-http generate check-generated test fuzz vet vet-arches headers bench matrix liburing bench-builders bench-echo bench-ring bench-files roundtrip-cross

# DEBIAN_PACKAGES: every Debian package that make test and make matrix need,
# in this one place (make deps installs them). Add yours with the reason.
#
# cgo, the gcc round trip, liburing's C helpers, the host's kernel headers.
DEBIAN_PACKAGES := gcc libc6-dev linux-libc-dev
# scripts/debian-apt.sh: the private apt configuration checks Debian's signatures.
DEBIAN_PACKAGES += debian-archive-keyring
# Cross compilers and C libraries: crossarch_test.go reads every GOARCH's layout
# from real gcc, scripts/roundtrip-cross.sh runs the round trip on each
# (Debian bookworm has none for loong64).
CROSS_TRIPLETS := i686-linux-gnu arm-linux-gnueabihf aarch64-linux-gnu mips-linux-gnu mipsel-linux-gnu \
	mips64-linux-gnuabi64 mips64el-linux-gnuabi64 powerpc64-linux-gnu powerpc64le-linux-gnu \
	riscv64-linux-gnu s390x-linux-gnu
CROSS_DEBARCHES := i386 armhf arm64 mips mipsel mips64 mips64el ppc64 ppc64el riscv64 s390x
DEBIAN_PACKAGES += $(CROSS_TRIPLETS:%=gcc-%) $(CROSS_DEBARCHES:%=libc6-dev-%-cross)
# qemu-user: the round trip and the builders' liburing comparison on foreign GOARCHes.
DEBIAN_PACKAGES += qemu-user-static
# make matrix: qemu boots the Debian kernels.
DEBIAN_PACKAGES += qemu-system-x86

# BENCH_DEBIAN_PACKAGES: what make bench needs besides (make bench-deps installs them).
# wrk: the HTTP load generator of make bench-http.
BENCH_DEBIAN_PACKAGES := wrk

# Go tools, pinned by canonical module version (the module proxy serves no
# release names) and run through go run, never a binary found on PATH.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

all: generate test

## deps: install the Debian packages the tests need (DEBIAN_PACKAGES) with apt-get, or print the command and fail
deps:
	@scripts/deps.sh $(DEBIAN_PACKAGES)

## bench-deps: install the Debian packages the benchmarks need (BENCH_DEBIAN_PACKAGES), or print the command and fail
bench-deps:
	@scripts/deps.sh $(BENCH_DEBIAN_PACKAGES)

## generate: regenerate generated/ from headers/ and templates/ (each package's own //go:generate directive)
generate:
	$(GO) generate ./generated/...

## check-generated: fail when a package in generated/ differs from what its directive generates (urgen check)
check-generated:
	$(GO) tool urgen check ./generated/...

## vet-arches: go vet every package for all 13 Linux GOARCHes
vet-arches:
	@for a in $(ARCHES); do echo "vet GOARCH=$$a"; GOOS=linux GOARCH=$$a CGO_ENABLED=0 $(GO) vet ./generated/... ./gen/... ./cmd/... || exit 1; done

## vet: go vet, gofmt and staticcheck ($(STATICCHECK), through go run)
vet:
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) run $(STATICCHECK) ./...

## test: everything CI runs (first make deps)
test: deps vet check-generated vet-arches liburing
	$(GO) test -count=1 ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./runtime/... ./examples/...
	scripts/roundtrip-cross.sh
	$(MAKE) fuzz FUZZTIME=count FUZZMINIMIZE=200x

# FUZZ lists every fuzz target as package:FuzzName:count, count being its budget in make test (about
# 2-4 s each here: the generator's targets run about 100 inputs a second, the runtime's about 30,000).
FUZZ := ./gen/model:FuzzLoad:500 ./gen/emit:FuzzTemplates:500 ./gen/report:FuzzDiff:500 ./runtime/ring:FuzzCQE:60000 \
	./runtime/sock:FuzzRecvmsgOut:60000 ./runtime/bufring:FuzzBundle:60000 ./runtime/zcrx:FuzzRecvZC:60000 \
	./runtime/bpf:FuzzProgram:60000
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 60s

## fuzz: run every fuzz target for FUZZTIME (default 30s; FUZZTIME=count: each target's count from FUZZ),
## minimizing a new input for at most FUZZMINIMIZE, then their seeds on 386; a failing input is saved under
## the package's testdata/fuzz (commit it: it becomes a regression test). make test uses the counts, not a
## duration: with a duration, Go 1.26's fuzz coordinator can fail a target with a bare 'context deadline
## exceeded' when the deadline fires while a worker is mid-call on a busy machine (golang/go#75804, fixed in
## Go 1.27); a count sets no deadline
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$(FUZZTIME); \
		[ "$$budget" = count ] && budget=$${rest#*:}x; echo "fuzz $$name ($$pkg) for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$budget -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; done
	GOARCH=386 CGO_ENABLED=0 $(GO) test -count=1 -run '^Fuzz' ./runtime/...

## roundtrip-cross: the gcc round trip of generated/ for the 12 foreign GOARCHes under qemu-user (urgen roundtrip -cross)
roundtrip-cross: deps
	scripts/roundtrip-cross.sh

## liburing: fetch liburing 2.15 (the SQE builders' oracle) and its kernel headers into .cache/liburing
liburing: deps
	scripts/fetch-liburing.sh .cache/liburing

## bench-builders: SQE builders against liburing's C prep helpers, in one run (cgo)
bench-builders: liburing
	CGO_ENABLED=1 $(GO) test -tags liburing -run '^$$' -bench . -benchmem ./internal/liburingbench

## bench: every benchmark against its peers, measured in the same run
bench: bench-builders bench-ring bench-echo bench-http bench-files

## bench-ring: ring runtime vs liburing 2.15 (C, cgo) vs giouring: NOP batches and 4 KiB reads, interleaved, best of 7; ops per CPU-second of the benchmarking thread (BENCH_CLOCK=wall: wall clock) (full output: .cache/bench-ring.txt)
bench-ring: liburing
	@mkdir -p .cache && cd bench && CGO_ENABLED=1 $(GO) test -ldflags=-checklinkname=0 -run '^$$' -bench Ring -benchtime 300ms ./ring > ../.cache/bench-ring.txt; \
	rc=$$?; grep '^BENCH ' ../.cache/bench-ring.txt; [ $$rc -eq 0 ] || { tail -20 ../.cache/bench-ring.txt; exit $$rc; }

## bench-echo: echo servers, same run: the goroutine-per-connection server on runtime/uring's Conn against it on Go's net (BENCH conn lines), examples/echo (the raw event loop) against gnet and net (BENCH loop lines) (full output: .cache/bench-echo.txt)
bench-echo:
	@mkdir -p .cache && cd bench && ECHO_ROUNDS=$${ECHO_ROUNDS:-5} $(GO) test -run '^$$' -bench Echo -benchtime 1s -timeout 30m ./echo > ../.cache/bench-echo.txt; \
	rc=$$?; grep '^BENCH ' ../.cache/bench-echo.txt; [ $$rc -eq 0 ] || { tail -20 ../.cache/bench-echo.txt; exit $$rc; }

## bench-files: runtime/uring's File and FS against os, same process, interleaved: random 4 KiB reads (1, 32, 256 goroutines; liburing at QD 32 on one thread and on one thread per CPU as the limits), O_DIRECT reads, appends with fsync, small files, a tree copy, mkdir+remove of 10,000 directories: BENCH files lines, medians of FILES_ROUNDS (5) (full output: .cache/bench-files.txt)
bench-files: liburing
	@mkdir -p .cache && cd bench && CGO_ENABLED=1 $(GO) test -run '^$$' -bench Files -benchtime 1x -timeout 30m -v ./files > ../.cache/bench-files.txt; \
	rc=$$?; grep '^BENCH ' ../.cache/bench-files.txt; [ $$rc -eq 0 ] || { tail -20 ../.cache/bench-files.txt; exit $$rc; }

## bench-http: net/http on runtime/uring's Listener against net's, driven by wrk --latency at 16 and 256 connections: BENCH http lines (full output: .cache/bench-http.txt)
bench-http: bench-deps
	@mkdir -p .cache && cd bench && $(GO) test -run '^$$' -bench HTTP -benchtime 1x -timeout 30m ./http > ../.cache/bench-http.txt; \
	rc=$$?; grep '^BENCH ' ../.cache/bench-http.txt; [ $$rc -eq 0 ] || { tail -20 ../.cache/bench-http.txt; exit $$rc; }

## headers: sync Debian linux-libc-dev=$(LINUX_LIBC_DEV) into a scratch tree, print its ABI diff against headers/,
## and replace headers/ with it unless the diff has ABI breaks (ALLOW_ABI_BREAKS=1 replaces it anyway)
headers: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	scripts/sync-headers.sh "$(LINUX_LIBC_DEV)" $$tmp/headers && \
	$(GO) run ./cmd/urgen diff $(if $(ALLOW_ABI_BREAKS),-allow-breaks) headers $$tmp/headers && \
	cp headers/*.go $$tmp/headers/ && mv headers $$tmp/old && mv $$tmp/headers headers && \
	echo "headers/ replaced; now: make generate && make test"

## matrix: run the runtime tests on the Debian kernels of internal/matrix/kernels.txt under qemu, and on the host
## (first proving on one kernel that the harness reports failures: TestRunEndToEnd)
matrix: deps
	scripts/fetch-kernels.sh
	MATRIX_E2E=1 $(GO) test -count=1 -run TestRunEndToEnd ./internal/matrix
	$(GO) run ./cmd/matrix
