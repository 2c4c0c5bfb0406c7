# Two commands do everything on a fresh machine:
#   make demo   - a whole simulated phone call against the embedded engines
#   make test   - lint, type check and the full test suite
# Both bootstrap uv (pinned) and the locked environment first.

UV_VERSION := 0.13.9
UV ?= $(shell command -v uv 2>/dev/null || echo .bootstrap/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export ORT_DISABLE_TELEMETRY := 1
# Test processes run side by side (pytest-xdist). Most of the suite's time is
# real-time phone calls that wait on the clock, so two workers halve it on
# two cores; more than one per core makes the calls' speech engines late.
TEST_WORKERS ?= 2

.PHONY: demo test lint bench eval serve sync clean

demo: sync
	$(UV) run --locked --no-sync dialgraph demo

test: sync
	$(UV) run --locked --no-sync ruff check .
	$(UV) run --locked --no-sync ruff format --check .
	$(UV) run --locked --no-sync mypy
	$(UV) run --locked --no-sync pytest -n $(TEST_WORKERS) --dist worksteal

bench: sync
	$(UV) run --locked --no-sync python bench/run_all.py

# Both bundled suites: text mode, then whole calls in two caller voices (one per
# voice family), clean, and the smoke-tagged scenarios at 20 and 10 dB of babble
# (noisy calls run longest). Reports in var/eval/.
# Long (real-time calls): EVAL_ARGS="--tag smoke" for a taste.
EVAL_ARGS ?=
EVAL_AUDIO := --mode both --voices piper,espeak-us --noise-snr 20,10 --noise-tag smoke --parallel 3
eval: sync
	$(UV) run --locked --no-sync dialgraph eval --graph clinic $(EVAL_AUDIO) --out var/eval/clinic $(EVAL_ARGS)
	$(UV) run --locked --no-sync dialgraph eval --graph helpdesk $(EVAL_AUDIO) --out var/eval/helpdesk $(EVAL_ARGS)

serve: sync
	$(UV) run --locked --no-sync dialgraph serve

sync: $(UV)
	$(UV) sync --locked --all-extras

.bootstrap/bin/uv:
	python3 -m venv .bootstrap
	.bootstrap/bin/pip install --quiet "uv==$(UV_VERSION)"

clean:
	rm -rf .venv .bootstrap var .pytest_cache .ruff_cache .mypy_cache
