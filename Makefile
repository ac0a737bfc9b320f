# chatd: common tasks. `make help` lists them.
GO ?= go
BIN ?= bin

.PHONY: help build run test test-race bench fuzz ci clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# -buildvcs=true: stamp the commit (chatd -version) even where GOFLAGS turns it off.
build: ## build chatd and chatbench into ./bin
	$(GO) build -buildvcs=true -o $(BIN)/chatd ./cmd/chatd
	$(GO) build -o $(BIN)/chatbench ./cmd/chatbench

run: ## run one node on :8080 with the embedded broker
	$(GO) run -buildvcs=true ./cmd/chatd

test: ## the test suite (the README's test command)
	$(GO) test ./...

test-race: ## the test suite under the race detector
	$(GO) test -race ./...

bench: ## micro-benchmarks (parser, fan-out, codec)
	$(GO) test -run '^$$' -bench . -benchmem ./eventloop/ ./rooms/ ./server/...

fuzz: ## run each fuzz target for 60 s
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 60s ./server/v1/
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 60s ./server/v2/
	$(GO) test -run '^$$' -fuzz FuzzDecoder -fuzztime 60s ./eventloop/
	$(GO) test -run '^$$' -fuzz FuzzUTF8 -fuzztime 60s ./eventloop/
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 60s ./eventloop/

ci: ## what CI runs (installs redis-server, chromium, nginx, haproxy, podman when missing)
	./.ci/run

clean:
	rm -rf $(BIN)
