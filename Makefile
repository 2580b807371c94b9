# qsat_pat — the two commands of README.md, and a few helpers.
#   make demo   set up (idempotent), then run the main job
#   make test   set up (idempotent), then run the whole test suite
.PHONY: setup demo test lint bench clean colcon-check

VENV := .venv
PY := $(VENV)/bin/python
DEMO_OUT := out/demo

setup:
	@bash scripts/setup_env.sh

# The main job: a simulated pass of both terminals, the simulator node in lockstep with the
# terminals' nodes over DDS (qsat-pat sim), the first DEMO_S seconds of the nominal pass (AOS,
# acquisition, fine tracking). DEMO_MODE=--direct flies the same nodes' decision objects in one
# process (the same record, several times faster).
DEMO_S ?= 30
DEMO_MODE ?=
demo: setup
	@$(VENV)/bin/qsat-pat sim --scenario nominal --out $(DEMO_OUT) $(DEMO_MODE) --duration $(DEMO_S) --force
	@echo "demo done: open $(DEMO_OUT)/report.json and $(DEMO_OUT)/*.png; replay the bag with: $(VENV)/bin/qsat-pat bag info $(DEMO_OUT)/bag"

test: setup
	@bash scripts/run_tests.sh

lint: setup
	@$(VENV)/bin/ruff check .

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

colcon-check: setup
	@bash scripts/colcon_check.sh

clean:
	rm -rf build install log out
