# qsat_pat — the two commands of README.md, and a few helpers.
#   make demo   set up (idempotent), then run the main job
#   make test   set up (idempotent), then run the whole test suite
.PHONY: setup demo test lint bench clean colcon-check

VENV := .venv
PY := $(VENV)/bin/python
DEMO_OUT := out/demo

setup:
	@bash scripts/setup_env.sh

demo: setup
	@rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	@cd $(DEMO_OUT) && ../../$(VENV)/bin/qsat-pat up sim --duration 15
	@$(VENV)/bin/qsat-pat bag info $$(ls -d $(DEMO_OUT)/bags/qsat_pat_* | head -1)
	@echo "demo output: $(DEMO_OUT)/"

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
