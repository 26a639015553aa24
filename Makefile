# Two entry points for a fresh machine (see README):
#   make demo   set up .venv and run the main job on the embedded synthetic default
#   make test   set up .venv and run the test suite
# torch==2.13.0 is installed first, on its own, so pip never resolves a CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test demo test clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .

setup-test: setup
	$(BIN)/pip install -q -e '.[test,ray,onnx,robustness]'

demo: setup
	$(BIN)/poolbench demo

test: setup-test
	$(BIN)/python -m pytest tests -p no:cacheprovider --timeout=900

clean:
	rm -rf $(VENV) runs out
