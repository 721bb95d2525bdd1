# tidegate — build, test and demo entry points (CONTRACT §1).
#   make deps   install the Debian packages the build and tests need (no-op when present)
#   make build  configure (RelWithDebInfo) into build/ and build build/tidegate
#   make test   deps + build + the whole suite through ctest
#   make run    deps + build, then the local demo (scripts/run-demo.sh)
#   make deb    build, then the Debian package build/tidegate_<version>_<arch>.deb
#               (packaging/build-deb.sh; README "Installing the Debian package")
#   make run-cluster  deps + build, then the cluster demo: 3 etcd members, PostgreSQL, three
#               gateways and an intake (scripts/run-cluster.py, README "Cluster demo")
#   make bench  deps + build, then the side-by-side benchmark against Postfix (bench/)
#   make bench-cluster  deps + build, then the cluster configuration propagation benchmark
#               (bench/cluster_propagation.py, docs/PERFORMANCE.md, about 30 s)
#   make soak   build, then the TDC fault-isolation soak (tests/e2e/soak.py, SOAK_CYCLES cycles
#               of 15 s blocks, 3 by default, about 11 minutes; docs/RELIABILITY.md)
#   make fuzz   every libFuzzer target for FUZZ_SECONDS (default 600) each, in build-fuzz/
#   make fuzz-ci    the same for 20 s each, plus the kept reproducers (CI)
#   make sanitize   ASan+UBSan build in build-asan/, then the unit and end-to-end tests there
# Under CI=true, `make test` also runs fuzz-ci and sanitize after the normal suite, and a skipped
# test is a failure (scripts/ctest.sh, tests/e2e/conftest.py; docs/RELIABILITY.md).

BUILD_DIR ?= build
# ccache (CMakeLists.txt uses it when installed): paths relative to the clone and no working-
# directory hash, so a fresh clone elsewhere (CI) reuses what an earlier build compiled. Only
# the source paths recorded in debug info can then name the other clone.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 20
ASAN_DIR ?= build-asan

# Everything the build and the tests use. Keep this list the single source of truth.
# swaks' TLS (`-tls`, the README's first demo step) needs libnet-ssleay-perl and
# libio-socket-ssl-perl, which are only its Recommends (not installed with --no-install-recommends);
# curl is the README's intake API call. tests/e2e/test_readme_demo.py runs the README's commands.
# rspamd and clamav-daemon are the content-security engines the e2e tests and the demo run
# privately (scripts/engine_configs.py, docs/testing-engines.md; the demo waits for rspamd with
# curl); zip makes their encrypted-archive test file.
# clamav-milter is Postfix's side of the content-security benchmark (bench/scanning.py).
# etcd-server and etcd-client (etcdctl) are cluster mode's configuration store, run privately by
# tests/e2e/etcd.py (docs/testing-engines.md).
# postgresql is the cluster demo's tracking database (scripts/run-cluster.py).
# prometheus scrapes /metrics and rsyslog receives syslog in the operations tests (issue 19).
DEB_PACKAGES := build-essential cmake ninja-build pkg-config \
  libboost1.81-dev libboost-system1.81-dev libssl-dev libc-ares-dev libyaml-cpp-dev \
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libsqlite3-dev zlib1g-dev \
  libgtest-dev libgmock-dev \
  openssl swaks libnet-ssleay-perl libio-socket-ssl-perl curl \
  postfix dnsmasq-base python3 python3-aiosmtpd python3-pytest \
  iproute2 procps chromium clang-14 libclang-rt-14-dev ccache \
  rspamd clamav-daemon zip clamav-milter \
  libldap-dev slapd ldap-utils \
  etcd-server etcd-client \
  libpq-dev postgresql \
  prometheus rsyslog

.PHONY: deps build test deb run run-cluster bench-cluster bench bench-scanning soak clean fuzz fuzz-ci fuzz-build sanitize

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
	@# The Web UI's browser test: playwright-core only (it drives Debian's chromium and never
	@# downloads a browser of its own), pinned by tests/webui/package-lock.json.
	@[ -d tests/webui/node_modules ] || \
	  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/webui --no-audit --no-fund

build:
	@[ -f $(BUILD_DIR)/build.ninja ] || cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps build
	./scripts/ctest.sh $(BUILD_DIR) -j 2 --timeout 600
	@if [ "$$CI" = true ]; then $(MAKE) --no-print-directory fuzz-ci sanitize; fi

# Exactly one package in build/: an older version's goes first. tests/e2e/test_deb.py checks
# what the same script builds.
deb: build
	rm -f $(BUILD_DIR)/tidegate_*.deb
	./packaging/build-deb.sh $(BUILD_DIR)/tidegate $(BUILD_DIR)

# libFuzzer targets: clang 14 with -fsanitize=fuzzer,address,undefined (docs/RELIABILITY.md).
fuzz-build: deps
	@[ -f $(FUZZ_DIR)/build.ninja ] || cmake -S . -B $(FUZZ_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DTIDEGATE_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_targets

fuzz: fuzz-build
	./scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

fuzz-ci: fuzz-build
	./scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_CI_SECONDS)

# ASan+UBSan build of everything; ctest there runs the unit and the end-to-end tests against the
# instrumented binary (tests/CMakeLists.txt points TIDEGATE_BIN at it). scripts/sanitize.sh sets
# the sanitizer options and fails on any report, also from a gateway an e2e test started.
sanitize: deps
	@[ -f $(ASAN_DIR)/build.ninja ] || cmake -S . -B $(ASAN_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDEGATE_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)
	./scripts/sanitize.sh $(ASAN_DIR)

run: deps build
	./scripts/run-demo.sh

run-cluster: deps build
	./scripts/run-cluster.py

# The side-by-side benchmark against Postfix (docs/PERFORMANCE.md); about an hour with the full
# matrix. BENCH_ARGS passes options, e.g. BENCH_ARGS="--rounds 1 --matrix main".
BENCH_ARGS ?= --rounds 3 --matrix full --queued 100000
bench: deps build
	python3 bench/sidebyside.py $(BENCH_ARGS)

bench-cluster: deps build
	/usr/bin/python3 bench/cluster_propagation.py $(BENCH_CLUSTER_ARGS)

# The same with content security on (issue 16): rspamd and clamd alone, tidegate scanning with
# both, Postfix with rspamd's milter and clamav-milter; about 12 minutes. The engines get half of
# a CPU of their own, one the spool disk's interrupts do not reach (docs/PERFORMANCE.md, "Session
# 14"). Debian's python3: it imports the e2e engine fixtures (tests/e2e/engines.py, which need
# python3-aiosmtpd).
BENCH_SCANNING_ARGS ?= --rounds 7 -n 2000 --direct-n 2000 --settle 10 --settle-tidegate 5 \
	--engine-cpus 0.5 --engine-cpu-list auto
bench-scanning: deps build
	/usr/bin/python3 bench/scanning.py $(BENCH_SCANNING_ARGS)

# The TDC fault-isolation soak (docs/RELIABILITY.md); a short version runs in make test.
SOAK_CYCLES ?= 3
soak: deps build
	TIDEGATE_BIN=$(CURDIR)/$(BUILD_DIR)/tidegate /usr/bin/python3 tests/e2e/soak.py \
	  --cycles $(SOAK_CYCLES) $(SOAK_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR)
