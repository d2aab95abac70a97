# proxyarp: selective proxy-ARP for VM hosts.
#   make demo   the seed topology in network namespaces, end to end (root)
#   make test   vet, gofmt, unit + replay tests, end-to-end tests (as root)

GO      ?= go
BIN     := bin/proxyarp
HOTPLUG := bin/proxyarp-hotplug
PKGS    := ./...
FUZZTIME ?= 30s

.PHONY: all build install deb test vet fmt-check unit demo bench bench-go fuzz soak clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/proxyarp
	CGO_ENABLED=0 $(GO) build -trimpath -o $(HOTPLUG) ./cmd/proxyarp-hotplug

PREFIX ?= /usr/local
XEN_SCRIPTS ?= /etc/xen/scripts

# Binaries (proxyarp-hotplug: `proxyarp hotplug` alone, for vif-proxyarp),
# Xen hotplug script, and the iproute2 name of proxyarp's route
# protocol (so `ip route` prints "proto proxyarp").
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/proxyarp
	install -D -m 0755 $(HOTPLUG) $(DESTDIR)$(PREFIX)/sbin/proxyarp-hotplug
	install -D -m 0755 dist/xen/vif-proxyarp $(DESTDIR)$(XEN_SCRIPTS)/vif-proxyarp
	install -D -m 0644 dist/iproute2/rt_protos.d/proxyarp.conf $(DESTDIR)/etc/iproute2/rt_protos.d/proxyarp.conf
	test -e $(DESTDIR)/etc/proxyarp/proxyarp.toml || install -D -m 0644 dist/proxyarp.toml $(DESTDIR)/etc/proxyarp/proxyarp.toml
	install -d $(DESTDIR)/etc/systemd/system
	sed 's#/usr/sbin/proxyarp#$(PREFIX)/sbin/proxyarp#' dist/systemd/proxyarp.service > $(DESTDIR)/etc/systemd/system/proxyarp.service

# Debian package (nfpm via go run, not in go.mod): bin/proxyarp_VERSION_ARCH.deb
deb:
	GO=$(GO) bash dist/deb/build.sh bin

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Unit, replay and end-to-end tests. The end-to-end tests need root (they
# build network namespaces) and skip with a message otherwise.
test: vet fmt-check
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# Unit tests only, no root needed.
unit:
	$(GO) test -race -count=1 -short $(PKGS)

demo: build
	bash docs/demo.sh $(BIN)

# Benchmarks against the kernel and the peers in network namespaces, all in
# one run (root, about 5 minutes); rewrites docs/BENCHMARKS.md.
bench:
	bash bench/run.sh --md docs/BENCHMARKS.md --results bench/results.jsonl

# Go benchmarks of the answer path only (Decide + answer-set lookup; no root).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./responder/ ./routes/

# Soak test (not in CI): SOAK_MINUTES (default 10) of a paced flood plus
# route churn, checking every reply, RSS and goroutines.
soak:
	bash bench/soak.sh

# A short run of every fuzz target; corpora live in each package's testdata/.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./responder/
	$(GO) test -run '^$$' -fuzz '^FuzzDecideNDP$$' -fuzztime $(FUZZTIME) ./responder/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEntries$$' -fuzztime $(FUZZTIME) ./hotplug/
	$(GO) test -run '^$$' -fuzz '^FuzzParseMessage$$' -fuzztime $(FUZZTIME) ./xenstore/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./capture/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRoutes$$' -fuzztime $(FUZZTIME) ./capture/
	$(GO) test -run '^$$' -fuzz '^FuzzReadState$$' -fuzztime $(FUZZTIME) ./capture/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRoutesJSON$$' -fuzztime $(FUZZTIME) ./capture/

clean:
	rm -rf bin
