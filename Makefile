# seckill — run `make help` for the targets.
GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## run the whole system in one process (embedded mode)
	$(GO) run ./cmd/api

# The dev-tools module's tests (tools/go.mod) run after the service's: API
# clients generated from api/openapi.yaml by ogen and oapi-codegen buy from
# a real api. TOOLS_PKGS= leaves them out.
TOOLS_PKGS ?= ./...
TOOLS_TEST  = $(if $(TOOLS_PKGS),cd tools && $(GO) test $(TESTFLAGS) $(TOOLS_PKGS))

.PHONY: test
test: ## run every test, the dev-tools module's too (servers on 127.0.0.1 are used when they answer)
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(TOOLS_TEST)

.PHONY: test-services
test-services: services ## run every test with all servers required
	SECKILL_REQUIRE_SERVICES=1 $(GO) test $(TESTFLAGS) $(PKGS)
	$(TOOLS_TEST)

.PHONY: services
services: ## install and start memcached/prometheus if missing; start redis, rabbitmq, mariadb and the redis cluster (:7000-7005) if down
	./scripts/services.sh ensure

# Dev tools live in their own module (tools/go.mod), so the service's go.mod
# lists only what the service builds with.
TOOLS_MOD := -modfile=$(CURDIR)/tools/go.mod

.PHONY: lint
lint: ## golangci-lint v2 (tools/go.mod) with the checked-in config
	$(GO) tool $(TOOLS_MOD) golangci-lint run ./...

REDOCLY_VERSION ?= 2.77.0

.PHONY: openapi-lint
openapi-lint: ## Redocly CLI (npx, REDOCLY_VERSION) lints api/openapi.yaml with its recommended rules (redocly.yaml)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		npx --yes @redocly/cli@$(REDOCLY_VERSION) lint api/openapi.yaml

.PHONY: fmt
fmt: ## gofmt every file
	gofmt -w $$(git ls-files '*.go')

.PHONY: build
build: ## build api and worker into bin/
	$(GO) build -o bin/ ./cmd/...

.PHONY: api
api: ## run the api against the local servers
	SECKILL_REDIS_URL=redis://127.0.0.1:6379/0 \
	SECKILL_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
	SECKILL_MYSQL_DSN='root@tcp(127.0.0.1:3306)/seckill?parseTime=true' \
	SECKILL_JWT_SECRET=$${SECKILL_JWT_SECRET:-local-development-only-jwt-secret-0123456789} \
	$(GO) run ./cmd/api

.PHONY: worker
worker: ## run the worker against the local servers
	SECKILL_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
	SECKILL_MYSQL_DSN='root@tcp(127.0.0.1:3306)/seckill?parseTime=true' \
	$(GO) run ./cmd/worker

.PHONY: spike
spike: ## fire a flash sale at a running api (see loadtest/cmd/spike -h)
	$(GO) run ./loadtest/cmd/spike

BENCHFLAGS ?=

.PHONY: bench
bench: ## benchmark api+worker on the local servers against a hello-world baseline (BENCHFLAGS=-profile, see loadtest/cmd/bench -h)
	$(GO) run ./loadtest/cmd/bench $(BENCHFLAGS)

.PHONY: bench-scale
bench-scale: ## the bench's load phases on 1 and 2 apis × 1 and 2 workers (4 persist partitions), on the single Redis and on the local Redis Cluster, 3s each, and each setup's workers alone draining 100,000 orders (about four minutes; BENCHFLAGS as for bench)
	$(GO) run ./loadtest/cmd/bench -apis 1,2 -workers 1,2 -redis single,cluster -warmup 1s -duration 3s $(BENCHFLAGS)

CHAOSFLAGS ?=

.PHONY: chaos
chaos: ## fault suite: two apis and two workers on the local servers, one fault per scenario, checked from outside (CHAOSFLAGS=-run …, see loadtest/cmd/chaos -h)
	$(GO) run ./loadtest/cmd/chaos $(CHAOSFLAGS)

.PHONY: chaos-short
chaos-short: ## the fault suite with fewer orders and shorter outages (a few minutes)
	$(GO) run ./loadtest/cmd/chaos -short $(CHAOSFLAGS)

CLUSTER_URL ?= redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002

.PHONY: chaos-cluster-short
chaos-cluster-short: ## the short fault suite on the local Redis Cluster (CLUSTER_URL), a master failover among its scenarios (about two minutes)
	$(GO) run ./loadtest/cmd/chaos -short -redis '$(CLUSTER_URL)' $(CHAOSFLAGS)

PROMTOOL ?= promtool
RULES    := deploy/prometheus/rules

.PHONY: rules
rules: ## promtool: check the Prometheus config (syntax: its token file exists where Prometheus runs) and rules, run the rules' unit tests
	$(PROMTOOL) check config --syntax-only deploy/prometheus/prometheus.yml
	$(PROMTOOL) check rules $(RULES)/recording.yml $(RULES)/alerts.yml
	$(PROMTOOL) test rules $(RULES)/*_test.yml

HELM_VERSION ?= v3.22.0
HELM         := $(CURDIR)/.tools/bin/helm
CHART        := deploy/helm/seckill
# Every value the chart requires, as a test install would give them.
HELM_SET     := --set-string 'config.redisURL=redis://redis-0:6379?addr=redis-1:6379&addr=redis-2:6379' \
	--set-string secrets.jwtSecret=helm-check-jwt-secret-0123456789abcdef \
	--set-string secrets.adminToken=helm-check-admin-token-0123456789abcdef \
	--set-string 'secrets.amqpURL=amqp://seckill:helm-check@rabbitmq:5672/' \
	--set-string 'secrets.mysqlDSN=seckill:helm-check@tcp(mysql:3306)/seckill?parseTime=true'

.PHONY: helm
helm: ## install helm (HELM_VERSION, v3.22.0) into .tools/bin (go install, outside the service's go.mod) unless it is there
	@if [ ! -x $(HELM) ] || [ "$$(cat $(HELM).version 2>/dev/null)" != "$(HELM_VERSION)" ]; then \
		echo "installing helm $(HELM_VERSION) into .tools/bin"; \
		GOBIN=$(CURDIR)/.tools/bin $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && echo $(HELM_VERSION) >$(HELM).version; \
	fi

.PHONY: helm-check
helm-check: helm ## helm lint and helm template of the chart (deploy/helm/seckill), with its required values and with an existing Secret
	$(HELM) lint --strict $(CHART) $(HELM_SET)
	$(HELM) template seckill $(CHART) $(HELM_SET) --set metrics.podMonitor.enabled=true >/dev/null
	$(HELM) template seckill $(CHART) --set-string 'config.redisURL=redis://redis-0:6379?addr=redis-1:6379' \
		--set secrets.existingSecret=seckill-secrets >/dev/null
	@echo "helm-check: $(CHART) lints and renders"

.PHONY: prove-dashboard
prove-dashboard: ## real api+worker+Prometheus: every Grafana panel must return data
	SECKILL_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -run 'TestDashboard|TestPromtool' -v ./deploy/

.PHONY: compose-up
compose-up: ## docker compose: the whole system with Prometheus and Grafana (see docker-compose.yml)
	docker compose up -d --build
