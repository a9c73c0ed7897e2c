# SPDX-License-Identifier: Apache-2.0
# The two commands: `make sim` and `make test`. Each sets up what it needs on a fresh
# machine: Debian packages (apt-get, when absent), a .venv with the pinned wheels, and
# the project installed into it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.space_miner-installed
SYSTEM_STAMP := $(VENV)/.system-deps-ok
export MUJOCO_GL ?= egl
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: sim test bench lint system-deps venv clean

SIM_ARGS ?= --processes --time-limit 60

sim: $(STAMP)
	$(VENV)/bin/space-miner sim $(SIM_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider test $(TEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run_all.py

lint: $(STAMP)
	$(PY) -m flake8 space_miner test bench launch setup.py
	$(PY) -m pydocstyle space_miner launch setup.py

venv: $(STAMP)

# Debian packages: check_urdf (liburdfdom-tools) and Mesa's EGL for MuJoCo's headless
# renderer. Installed when absent; a machine where that is impossible fails here, loudly.
$(SYSTEM_STAMP):
	@missing=""; \
	command -v check_urdf >/dev/null 2>&1 || missing="$$missing liburdfdom-tools"; \
	ldconfig -p | grep -q 'libEGL.so.1' || missing="$$missing libegl1"; \
	ldconfig -p | grep -q 'libEGL_mesa.so.0' || missing="$$missing libegl-mesa0"; \
	ls /usr/lib/*/dri/swrast_dri.so /usr/lib/*/dri/*_dri.so >/dev/null 2>&1 || missing="$$missing libgl1-mesa-dri"; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "ERROR: need Debian packages$$missing but apt-get is not available" >&2; exit 1; fi; \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "ERROR: need Debian packages$$missing; run as root or install them first" >&2; exit 1; fi; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing \
	    || { echo "ERROR: apt-get could not install$$missing" >&2; exit 1; }; \
	fi
	@mkdir -p $(VENV) && touch $@

$(STAMP): $(SYSTEM_STAMP) requirements.txt requirements-dev.txt setup.py package.xml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

clean:
	rm -rf $(VENV) build install log *.egg-info
