# Two commands set paramops up on a fresh machine: `make run` and `make test`.
# Everything lands in a local virtual environment (.venv); torch is pinned to
# the CPU build so no multi-gigabyte CUDA wheels are pulled in.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip
# napari's tests and the screenshot need OpenGL: use a virtual X server when
# there is no display.
XRUN := $(if $(DISPLAY),,xvfb-run -a -s "-screen 0 1600x1000x24")

.PHONY: install system-deps run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# Xvfb, Mesa's software OpenGL and the xcb libraries Qt loads. Installed only
# where missing; needs root (CI and these machines run as root).
system-deps:
	@if ! command -v xvfb-run >/dev/null 2>&1 || ! ldconfig -p | grep -q libxkbcommon-x11; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			xvfb xauth libgl1-mesa-dri libgl1 libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 \
			libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 \
			libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1 >/dev/null; \
	fi

run: install system-deps
	$(XRUN) $(BIN)/python -m paramops.napari.demo $(if $(DISPLAY),,--screenshot screenshots/run.png)

test: install system-deps
	$(XRUN) $(BIN)/python -m pytest -q

bench: install
	$(BIN)/paramops bench --json

clean:
	rm -rf $(VENV) .pytest_cache screenshots
