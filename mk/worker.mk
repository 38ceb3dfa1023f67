# The SDXL worker's tests (`make test-worker`, or standalone: `make -f mk/worker.mk test-worker`).
# They need torch, which the main .venv must never get, so they run in their own venv, .venv-worker,
# with CPU torch from the machine's local wheel; the main suite skips tests/worker.

WORKER_PYTHON ?= python3
WORKER_VENV := .venv-worker
WORKER_DIR := src/turbodraft/worker
# Given to both installs so the second cannot replace it; the CPU build lies on this machine's disk.
WORKER_TORCH := torch==2.13.0

.PHONY: test-worker

$(WORKER_VENV)/.installed: $(WORKER_DIR)/requirements.txt $(WORKER_DIR)/requirements-test.txt mk/worker.mk
	test -x $(WORKER_VENV)/bin/python || $(WORKER_PYTHON) -m venv $(WORKER_VENV)
	$(WORKER_VENV)/bin/python -m pip install -qq --upgrade pip
	$(WORKER_VENV)/bin/python -m pip install -qq '$(WORKER_TORCH)'
	$(WORKER_VENV)/bin/python -m pip install -qq -r $(WORKER_DIR)/requirements-test.txt '$(WORKER_TORCH)'
	$(WORKER_VENV)/bin/python -c 'import torch; v = torch.__version__; assert v.startswith("2.13.0"), v; print("torch", v)'
	touch $@

# -o addopts= : the main suite's options (which --ignore this folder) are not the worker's.
test-worker: $(WORKER_VENV)/.installed
	PYTHONPATH=src $(WORKER_VENV)/bin/python -m pytest tests/worker -q -o addopts= --confcutdir=tests/worker \
		-p no:cacheprovider -W ignore::pytest.PytestConfigWarning
