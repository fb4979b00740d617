# One command per habit. `make test` on a fresh clone installs everything and runs the suite.
.PHONY: setup test test-fast lint fmt demo demo-stop

setup:
	scripts/setup

test:
	scripts/test

# The unit lane only (tests that start no process; tests/conftest.py sorts them), on two
# pytest-xdist workers: 39 s and 65 s in two runs here, 80 s on one (a shared machine). Lint is
# its own target. `make test` stays the whole suite, as CI runs it.
test-fast: setup
	.venv/bin/pytest -m unit -q -n 2 $(PYTEST_ARGS)

# `make test` runs on two pytest-xdist workers; TEST_WORKERS=4 make test gives it more.

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

fmt: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# The whole system on this machine (docs/demo.md); DEMO_KEEP=1 leaves it running.
demo:
	scripts/demo

demo-stop:
	scripts/demo --stop

# The benchmark of issue 7 (BENCHMARKS.md): `make bench BENCH_ARGS="--rounds 3 --seconds 3"`;
# `BENCH_ARGS="--peer mlserver --peer bentoml"` adds the peers (their venvs made on first use).
.PHONY: bench
bench: setup
	PYTHONPATH=packages/modelcontract:modules/predictor:modules/trainer:. .venv/bin/python -m bench $(BENCH_ARGS)

# The long soak run of issue 8 (docs/reliability.md): `make soak SOAK_ARGS="--seconds 1800"`.
.PHONY: soak
soak: setup
	PYTHONPATH=packages/modelcontract:modules/predictor:modules/trainer:. .venv/bin/python -m devtools.soak $(SOAK_ARGS)
