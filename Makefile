# The two commands a student needs: `make lab` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_ARGS ?=
# CPU=1 installs PyTorch's CPU-only wheel first (about 200 MB, instead of about 3 GB of CUDA
# wheels on Linux); pip then keeps it.
CPU ?=
CPU_TORCH_INDEX := https://download.pytorch.org/whl/cpu
# Deterministic, CI-sized runs: one thread (tiny models run fastest on one, and waiting threads
# must sleep, not spin, when a core is busy), fixed hash seed, no progress bars, fast training.
TEST_ENV := FFJORD_EDU_FAST=1 FFJORD_EDU_STRICT_CHECKS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
	PYTHONHASHSEED=0 TQDM_DISABLE=1 \
	MPLBACKEND=Agg PYDEVD_DISABLE_FILE_VALIDATION=1

.PHONY: install lab test lint format clean student site

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(CPU),$(BIN)/python -m pip install --quiet torch --index-url $(CPU_TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name ffjord-edu \
		--display-name "Python (ffjord-edu)" >/dev/null
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" notebooks/00_welcome.ipynb $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two pytest workers (one per core on CI's 2-core machine); --dist loadfile keeps each file, so
# each notebook and its kernel, each module fixture and the one JupyterLab, on one worker.
PYTEST_WORKERS ?= 2
test: lint
	$(TEST_ENV) $(BIN)/python -m pytest ffjord_edu tests notebooks \
		--nbval-lax --nbval-current-env --durations=15 -rs \
		-n $(PYTEST_WORKERS) --dist loadfile

# The student editions: solutions stubbed, outputs cleared, checks kept (build/student/).
student: $(STAMP)
	$(BIN)/python scripts/make_student.py --out build/student

# The course as a static HTML book that works offline (build/site/index.html), then a check of
# every page in headless Chromium with the network refused (skipped if Chromium is missing).
site: $(STAMP)
	$(BIN)/python scripts/build_site.py --out build/site
	FFJORD_EDU_SITE=build/site $(BIN)/python -m pytest tests/browser/test_site.py -q -p no:cacheprovider

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
