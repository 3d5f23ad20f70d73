# Two commands on a fresh machine: `make demo` and `make test`. Everything else is installed here,
# every time, idempotently (a stamp file skips what is already in place).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_DIR := tests/interop/js
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
APT_STAMP := $(VENV)/.apt-installed
APT_PACKAGES := curl sox tmux chromium dbus libdbus-1-dev libglib2.0-dev pkg-config gnome-keyring \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good stress-ng \
	jackd2 libltc11 libltc-dev linuxptp

.PHONY: all venv deps test lint typecheck contracts unit test-under-load demo bench soak emulator clean lock

all: test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project metadata or the pinned constraints change.
$(STAMP): $(VENV)/bin/python $(APT_STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

# Debian packages: curl, sox and tmux for the interop tests (curl replays Frame.io's examples,
# sox reads our WAVs, tmux is the live view's real terminal), chromium for the web page's test,
# dbus (a private dbus-daemon for the BlueZ mock) and the headers dbus-python builds against,
# gnome-keyring (a real Secret Service for the token key's test, on that private bus),
# GStreamer (gst-launch-1.0 and its RTP L16/L24 payloaders) for the AES67 interop tests,
# stress-ng to keep every core busy while `make test-under-load` runs the suite,
# jackd2 (a real JACK server with its dummy backend) for the recorder's own inputs, libltc (SMPTE LTC
# decoding in the hub, encoding in tests), linuxptp (ptp4l/pmc, whose state the hub reads and shows).
# jackd2's installer asks whether to allow realtime scheduling: answered "no" in advance, so it
# never waits for a terminal.
# Checked with dpkg-query, so apt runs only when something is missing; before pip, because
# dbus-python builds from source.
$(APT_STAMP): $(VENV)/bin/python Makefile
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "please install:$$missing" >&2; exit 1; fi; fi
	touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(STAMP) $(APT_STAMP) $(NODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check hub plugins tests bench
	$(BIN)/ruff format --check hub plugins tests bench

# mypy names modules by folder; the import names differ from the folders (hub/ is c2c_hub), so it
# reads them through a view of links named as they are imported.
typecheck: $(STAMP)
	@mkdir -p .typecheck && ln -sfn ../hub .typecheck/c2c_hub && ln -sfn ../plugins .typecheck/c2c_hub_plugins
	MYPYPATH=.typecheck $(BIN)/mypy -p c2c_hub -p c2c_hub_plugins

# The zones and the no-cycle rule (pyproject.toml's [tool.importlinter]).
contracts: $(STAMP)
	$(BIN)/lint-imports

# The suite in TEST_WORKERS processes (pytest-xdist): each has its own emulator, temp folders and
# buses, and nothing is shared through the machine, so they cannot meet. TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 3
unit: deps
	$(BIN)/pytest -n $(TEST_WORKERS)

test: deps lint typecheck contracts unit

# The suite as `make unit` runs it, with every core kept busy by another process for the whole run
# (CI shares its machine). stress-ng is stopped however pytest ends, and pytest's status is kept.
# LOAD_CPUS workers spin on the CPU; PYTEST_ARGS narrows the run (e.g. to a few test ids).
LOAD_CPUS ?= 2
test-under-load: deps
	@stress-ng --cpu $(LOAD_CPUS) --quiet & load=$$!; \
	trap 'kill $$load 2>/dev/null; wait $$load 2>/dev/null' EXIT INT TERM; \
	echo "stress-ng --cpu $(LOAD_CPUS) running beside the suite (pid $$load)"; \
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

demo: deps
	$(BIN)/c2c-hub demo

emulator: deps
	$(BIN)/c2c-hub emulator

# The soak's real time in `make bench` (seconds); `make soak` runs SOAK_LONG_SECONDS.
SOAK_SECONDS ?= 300
SOAK_LONG_SECONDS ?= 3600

bench: deps
	$(BIN)/python -m bench --soak-seconds $(SOAK_SECONDS)

soak: deps
	$(BIN)/python -m bench.soak --seconds $(SOAK_LONG_SECONDS)

# Refresh the pins after changing dependencies in pyproject.toml.
lock: $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^c2c-hub' > constraints.txt

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache .typecheck
