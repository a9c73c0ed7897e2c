# SPDX-License-Identifier: Apache-2.0
# The two commands: `make sim` and `make test`. Each sets up what it needs on a fresh
# machine: Debian packages (apt-get, when absent), a .venv with the pinned wheels, and
# the project installed into it; `make test` also ROS 2 Jazzy's launch system and `ros2`
# command line (see launch-system below).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.space_miner-installed
SYSTEM_STAMP := $(VENV)/.system-deps-ok
LAUNCH_STAMP := $(VENV)/.ros2-launch-installed
# Source snapshots of Jazzy's launch, launch_ros and ros2cli with their install.sh (not on
# PyPI): by default the shared/ folder beside this checkout (a CI clone has it there too).
HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
ROS2_PYTHON ?= $(or $(firstword $(wildcard $(HERE)../shared/ros2-python-jazzy \
  $(HERE)../../shared/ros2-python-jazzy)),$(abspath $(HERE)../shared/ros2-python-jazzy))
export MUJOCO_GL ?= egl
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: sim test bench lint system-deps venv launch-system clean

SIM_ARGS ?= --processes --time-limit 60

sim: $(STAMP)
	$(VENV)/bin/space-miner sim $(SIM_ARGS)

test: $(STAMP) launch-system
	$(PY) -m pytest -q -p no:cacheprovider test $(TEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run_all.py

lint: $(STAMP)
	$(PY) -m flake8 space_miner test bench launch setup.py
	$(PY) -m pydocstyle space_miner launch setup.py

venv: $(STAMP)

launch-system: $(LAUNCH_STAMP)

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

# ROS 2 Jazzy's launch system and ros2 command line: a sourced ROS 2 install's when .venv's
# Python already imports launch_ros, else installed into .venv by $(ROS2_PYTHON)/install.sh
# (about 1.5 min once; then a no-op). Then .venv is made an ament prefix for this checkout
# (the package index entry, share/space_miner/{package.xml,config,urdf,launch/*} and
# lib/space_miner/<console script>, all symlinks, so edits need no rebuild): with
# AMENT_PREFIX_PATH=$(VENV), `ros2 launch space_miner sim.launch.py` runs this checkout.
# Where neither exists this says so, writes no stamp, and the ros2 launch tests skip
# (with CI set they fail).
$(LAUNCH_STAMP): $(STAMP) $(wildcard $(ROS2_PYTHON)/*.tar.gz $(ROS2_PYTHON)/install.sh) \
    setup.py $(wildcard launch/*.py)
	@if $(PY) -c 'import launch_ros, ros2cli' 2>/dev/null && \
	    { [ -x $(VENV)/bin/ros2 ] || command -v ros2 >/dev/null; }; then :; \
	elif [ -x "$(ROS2_PYTHON)/install.sh" ]; then \
	  echo "make: installing ROS 2 launch and the ros2 command line from $(ROS2_PYTHON)"; \
	  "$(ROS2_PYTHON)/install.sh" $(VENV) || exit 1; \
	else \
	  echo "make: no ROS 2 launch system: $(ROS2_PYTHON)/install.sh is missing and no" \
	    "sourced ROS 2 provides launch_ros; set ROS2_PYTHON=DIR (ros2-python-jazzy) or" \
	    "source ROS 2 Jazzy. The ros2 launch tests will skip (and fail with CI set)." >&2; \
	  exit 0; \
	fi; \
	share=$(VENV)/share/space_miner; index=$(VENV)/share/ament_index/resource_index/packages; \
	rm -rf $$share $(VENV)/lib/space_miner && \
	mkdir -p $$share/launch $$index $(VENV)/lib/space_miner && touch $$index/space_miner && \
	ln -s $(CURDIR)/package.xml $(CURDIR)/config $(CURDIR)/urdf $$share/ && \
	for f in $(CURDIR)/launch/*.py; do ln -s $$f $$share/launch/ || exit 1; done && \
	for e in $$($(PY) -c "from importlib.metadata import distribution as d; print(*(e.name \
	    for e in d('space_miner').entry_points if e.group == 'console_scripts'))"); do \
	  ln -s ../../bin/$$e $(VENV)/lib/space_miner/$$e || exit 1; done && \
	touch $@

clean:
	rm -rf $(VENV) build install log *.egg-info
