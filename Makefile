# One command to run the platform, one to test it; both install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test unit integration e2e lint format install system-deps docs templates bench-kernel bench-loyalty bench-tracking bench-gateway bench-notifications bench-segments bench-segments-predictions clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Prometheus/promtool check the deploy/ configuration and dashboards in the tests; headless Chromium
# renders the mails and the tracking page (Debian packages).
system-deps:
	@{ command -v promtool && command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  echo "installing prometheus, chromium and chromium-driver for the tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    prometheus chromium chromium-driver >/dev/null; }

run: install
	$(BIN)/retention up

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -p no:cacheprovider

unit: install
	$(BIN)/pytest -q -m unit

integration: install system-deps
	$(BIN)/pytest -q -m integration

e2e: install
	$(BIN)/pytest -q -m e2e

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

docs: install
	$(BIN)/retention contract docs --out-dir docs

templates: install  ## rewrite the default notification templates from tools/notification_templates.py
	$(BIN)/python tools/notification_templates.py

clean:
	rm -rf .retention .pytest_cache .ruff_cache

# Database side of one micro-batch (validation, inbox, ledger, outbox) vs raw asyncpg, same run.
bench-kernel: install
	$(BIN)/python -m bench.kernel_batch

# One real loyalty worker on the embedded broker and PostgreSQL: events/s, p50/p99 at a fixed load, peak
# RSS, against raw aiokafka consume -> produce in the same run.
bench-loyalty: install
	$(BIN)/python -m bench.loyalty

# One real tracking worker: scan events/s on a backlog, delay detection latency, peak RSS, vs raw.
bench-tracking: install
	$(BIN)/python -m bench.tracking

# One real gateway process: events/s accepted on POST /v1/events (batches of 100 from a load generator in its own
# process) and p99 per call at 5,000 events/s, peak RSS, CPU per process, against a raw aiokafka producer (acks=all)
# publishing the same envelopes in the same run.
bench-gateway: install
	$(BIN)/python -m bench.gateway

# One real notifications worker rendering and delivering to the SMTP sink: mails/s, p99 trigger -> SMTP accept
# at a fixed load, peak RSS, against raw aiosmtplib delivery of ready-made mail in the same run.
bench-notifications: install
	$(BIN)/python -m bench.notifications

# One real segments worker: profile updates/s on a backlog and peak RSS, against raw aiokafka consume -> produce in
# the same run; the consumer's per-batch cost in a shop of 1,000 and one of 100,000 customers; a full re-evaluation
# of 1,000,000 customers against 20 segments (the bulk load is not counted).
bench-segments: install
	$(BIN)/python -m bench.segments

# The BG/NBD + Gamma-Gamma predictions on a simulated shop against a naive baseline (holdout MAE, fit time).
bench-segments-predictions: install
	$(BIN)/python -m bench.segments_predictions
