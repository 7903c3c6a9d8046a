# Covo Engine. Needs only Python 3.11+ and make: everything else installs into .venv from PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.9

.PHONY: install run test test-fast lint format lock worker api clean-data

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## Start the whole stack (embedded Postgres, Temporal dev server, worker, API on :8000).
run: install
	$(BIN)/covo run

## Lint, type-check, import contracts, then the full test suite.
test: install lint browser
	$(BIN)/pytest

## The inbox page test drives Debian's Chromium; as root on Debian (CI) it is installed when
## missing. Elsewhere the test reports itself skipped with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get install -y -q chromium >/dev/null 2>&1; } || echo "chromium not installed: the inbox page test will be skipped"

## The test suite alone.
test-fast: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy engine api workers server
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Re-pin every dependency after editing pyproject.toml: requirements.lock (everything, for make
## install), requirements-prod.lock (runtime only, for the image, same versions) and
## requirements-build.lock (uv and the build backend, for the image build).
LOCK := $(BIN)/uv pip compile --generate-hashes --python-version 3.11 --quiet --custom-compile-command "make lock"
lock: install
	$(LOCK) pyproject.toml --extra devstack --group dev -o requirements.lock
	$(LOCK) pyproject.toml -c requirements.lock -o requirements-prod.lock
	$(LOCK) --group pyproject.toml:build -o requirements-build.lock

.PHONY: bench bench-scheduler bench-wallet bench-esims bench-eager bench-pollers drill soak scale fuzz browser

## Benchmarks (own embedded stack): workflows vs a plain Temporal workflow, rules, JsonLogic; then one table.
bench: install
	$(BIN)/python bench/bench_workflows.py
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_tasks.py
	$(BIN)/python bench/bench_jsonlogic.py; status=$$?; $(BIN)/python bench/summary.py; exit $$status

## Ten minutes of steady load, showing whether memory stays flat (not part of `make test`).
soak: install
	$(BIN)/python bench/soak.py

## Scheduler benchmark (own embedded stack, ~10 minutes): jobs/s, list p99, firing skew vs bare Temporal Schedules, idle CPU.
bench-scheduler: install
	$(BIN)/python bench/bench_scheduler.py

## Wallet adjustments benchmark (own embedded stack); writes bench/results/wallet.md.
bench-wallet: install
	$(BIN)/python bench/bench_wallet.py

## eSIM benchmark with the 1Global simulator (own embedded stack); writes bench/results/esims.md.
bench-esims: install
	$(BIN)/python bench/bench_esims.py

## Eager workflow start vs normal start on a bare dev server (~2 minutes); writes bench/results/eager.md.
bench-eager: install
	$(BIN)/python bench/bench_eager.py

## Workflow-task pollers: the SDK's fixed five vs autoscaling (~3 minutes); writes bench/results/pollers.md.
bench-pollers: install
	$(BIN)/python bench/bench_pollers.py

## Scale-out on this machine: the checkout benchmark with 1/2 workers x 1/2 API processes on one
## dev server, then two workers with one SIGKILLed mid-run (bench/results/scale.md).
scale: install
	$(BIN)/python bench/bench_scale.py

## Operational drills, long form: the 50-instance kill-the-worker drill (`make test` runs its short
## form) and the four faults (worker SIGKILL, Temporal and Postgres outages, API killed
## mid-request) with 200 instances in flight, printing the fault table.
drill: install
	COVO_DRILL=1 $(BIN)/pytest tests/drills -s -p no:randomly

## Longer schemathesis run (50 examples per operation), as a super admin and as a plain employee of
## another tenant. `make test` runs a bounded pass (3 examples, super admin).
fuzz: install
	COVO_FUZZ_EXAMPLES=50 COVO_FUZZ_AS=superadmin,employee $(BIN)/pytest tests/fuzz -s -p no:randomly

worker: install
	$(BIN)/covo worker

api: install
	$(BIN)/covo api

clean-data:
	rm -rf .data
