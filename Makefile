# Two entry points for a fresh machine (see README):
#   make demo   set up .venv and run the main job on the embedded synthetic default
#   make test   set up .venv and run the test suite
# and the checks CI runs before `make test` (.ci/run):
#   make lint       ruff check + ruff format --check (rules and line length in pyproject.toml)
#   make typecheck  mypy on the typed core ([tool.mypy] files in pyproject.toml)
#   make test-fast  the tests not marked slow or realdata: the lane to run while developing
#   make test-interop  the tests marked interop (real timm and torchvision models) in .venv-interop
# The environments alone: make setup (poolbench), setup-dev (+ ruff, mypy), setup-test (+ the test
# and optional extras), setup-interop (.venv-interop); make clean removes both and runs/, out/.
# To time a target: `time make <target>` (a fresh clone's `time bash .ci/run` times CI); measured
# figures live in benchmarks/results/test-suite-*.md with their commit, machine and load, never here.
# The torch pin's one home is requirements/torch-cpu.txt: installed first, on its own, so pip never
# resolves a CUDA build, then passed as a constraint (-c) to every later install so nothing moves it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := requirements/torch-cpu.txt
# A second environment for the interop tests: its own torch, torchvision and timm (requirements/interop.txt).
INTEROP_VENV := .venv-interop
INTEROP_PIN := requirements/interop.txt

.PHONY: setup setup-dev setup-test setup-interop demo lint typecheck test-fast test test-interop clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Each install leaves a stamp in .venv; it is redone only when the stamp is older than what it
# installed from (pyproject.toml, the torch pin), so `make demo` and `make test` do not reinstall on
# every call. The install is editable: source edits need no reinstall.
$(VENV)/.setup.stamp: $(BIN)/python pyproject.toml $(TORCH_PIN)
	$(BIN)/pip install -q -r $(TORCH_PIN)
	$(BIN)/pip install -q -c $(TORCH_PIN) -e .
	touch $@

$(VENV)/.setup-dev.stamp: $(VENV)/.setup.stamp
	$(BIN)/pip install -q -c $(TORCH_PIN) -e '.[dev]'
	touch $@

$(VENV)/.setup-test.stamp: $(VENV)/.setup.stamp
	$(BIN)/pip install -q -c $(TORCH_PIN) -e '.[test,ray,onnx,robustness,dev]'
	touch $@

setup: $(VENV)/.setup.stamp
setup-dev: $(VENV)/.setup-dev.stamp
setup-test: $(VENV)/.setup-test.stamp

demo: setup
	$(BIN)/poolbench demo

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup-dev
	$(BIN)/mypy

# the lane to run while developing: everything but the slow and the realdata tests; `make test` still
# runs them all. `time make test-fast` times it (figures: benchmarks/results/test-suite-*.md).
test-fast: setup-test
	$(BIN)/python -m pytest tests -p no:cacheprovider --timeout=900 -m "not slow and not realdata"

test: setup-test
	$(BIN)/python -m pytest tests -p no:cacheprovider --timeout=900

$(INTEROP_VENV)/bin/python:
	$(PY) -m venv $(INTEROP_VENV)

setup-interop: $(INTEROP_VENV)/bin/python
	$(INTEROP_VENV)/bin/pip install -q -r $(INTEROP_PIN)
	$(INTEROP_VENV)/bin/pip install -q -c $(INTEROP_PIN) -e '.[test]'

# swap_pool, feat_mult() and timm pools on real timm and torchvision models (tests marked interop;
# `make test` skips them, saying why, where timm and torchvision cannot be imported)
test-interop: setup-interop
	$(INTEROP_VENV)/bin/python -m pytest tests -p no:cacheprovider --timeout=900 -m interop

clean:
	rm -rf $(VENV) $(INTEROP_VENV) runs out
