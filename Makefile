# The README's commands. `make run` serves the API on SQLite; `make test` runs every suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
PLUGIN_DIRS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
SUITES      := tests $(addsuffix tests,$(PLUGIN_DIRS))
STAMP        = $(VENV)/.installed

.PHONY: install run test test-plugin bench lint clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . $(addprefix -e ,$(PLUGIN_DIRS))
	$(BIN)/pip check
	touch $(STAMP)

run: install
	$(BIN)/commonly serve --host $(HOST) --port $(PORT)

# One pytest run over the kernel's suite and every plugin's (one summary line).
test: install
	$(BIN)/pytest $(SUITES)

# One plugin's suite alone, with its own config: make test-plugin PLUGIN=auth
test-plugin: install
	$(BIN)/pytest plugins/$(PLUGIN)/tests -c plugins/$(PLUGIN)/pyproject.toml

bench: install
	$(BIN)/python bench/kernel_http.py

lint: install
	$(BIN)/pip install --quiet ruff==0.17.5
	$(BIN)/ruff check commonly_kernel plugins tests bench

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info
