# Build / run / test entry points. Everything runs inside ./.venv (Python >= 3.12,
# found by scripts/find-python), installed from pyproject.toml constrained by requirements.lock.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
SCENARIO    ?= scenarios/compare_payment_models.toml
ARGS        ?=
PYTEST_ARGS ?=
# test workers (pytest-xdist): one per core by default; TEST_WORKERS=0 runs in this process
TEST_WORKERS ?= auto
CHROMIUM    := /usr/bin/chromium
PDFLATEX    := /usr/bin/pdflatex
# Quiet pip, but warnings/errors still go to stderr (QUIET_PIP=-qq hides warnings too).
QUIET_PIP   ?= --quiet
PIP         := -m pip --disable-pip-version-check $(QUIET_PIP)
PYCHECK     := import sys; assert sys.version_info >= (3, 12)

.PHONY: all setup run test test-slow test-all test-quick bench bench-startup explore docs lock clean
.DEFAULT_GOAL := setup

all: test-all

$(STAMP): pyproject.toml requirements.lock
	@if [ -e $(VENV) ] && ! $(PY) -c '$(PYCHECK)' >/dev/null 2>&1; then \
	    echo "make: $(VENV) is missing Python >= 3.12 (or is broken); recreating it"; \
	    rm -rf $(VENV); \
	fi
	@if [ ! -e $(PY) ]; then \
	    py="$$(scripts/find-python)"; \
	    echo "make: creating $(VENV) with $$py ($$("$$py" -V 2>&1))"; \
	    "$$py" -m venv $(VENV); \
	fi
	@$(PY) $(PIP) install --upgrade pip
	@echo "make: installing payment-sim[test] (every extra + test tools; constrained by requirements.lock) into $(VENV)"
	@$(PY) $(PIP) install -c requirements.lock -e '.[test]'
	@# the explorer page's front-end files, from the npm registry (no CDN is reachable here)
	@$(PY) scripts/solara_assets.py
	@touch $@

# The explorer's browser test drives the system's Chromium (Debian packages chromium and
# chromium-driver); nothing downloads a browser. Installed when missing and we are root (CI).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing chromium and chromium-driver (Debian packages) for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
	    echo "make: $(CHROMIUM) is missing and cannot be installed here (not root or no apt-get);" \
	         "the browser test will be skipped (install Debian's chromium to run it)"; \
	fi

# The LaTeX tables of `sim report` are compiled by the tests (tests/publish/test_publication.py)
# with Debian's pdflatex and booktabs: texlive-latex-base and texlive-latex-recommended, without
# recommends (about 144 MB installed). Installed when missing and we are root (CI), as chromium.
$(PDFLATEX):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing texlive-latex-base and texlive-latex-recommended (Debian packages) for the LaTeX table test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        texlive-latex-base texlive-latex-recommended >/dev/null; \
	else \
	    echo "make: $(PDFLATEX) is missing and cannot be installed here (not root or no apt-get);" \
	         "the LaTeX table test will be skipped (install Debian's texlive-latex-recommended to run it)"; \
	fi

setup: $(STAMP) $(CHROMIUM) $(PDFLATEX)

run: setup
	$(VENV)/bin/sim run $(SCENARIO) $(ARGS)

# The linter, the type checker and every test but the slow end-to-end ones, on every core: the
# loop while developing (README's second command). CI (.ci/run) runs it, then `make test-slow`.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -W error -n $(TEST_WORKERS) --dist worksteal --durations=20 --durations-min=5 -m "not slow" $(PYTEST_ARGS)

# The slow end-to-end tests (@pytest.mark.slow and tests/conftest.py's SLOW): the tutorial and
# how-tos followed, the browser, packaging, kill-and-resume of every long command, the reports.
test-slow: setup
	$(PY) -m pytest -W error -n $(TEST_WORKERS) --dist worksteal --durations=20 --durations-min=5 -m slow $(PYTEST_ARGS)

# Everything CI runs: `make test`, then the slow tests.
test-all: test test-slow

# Kept for habit: the quick loop is now `make test` itself.
test-quick: test

bench: setup
	$(PY) benchmarks/bench_step.py

bench-startup: setup
	$(PY) benchmarks/bench_startup.py

explore: setup
	$(VENV)/bin/sim explore $(ARGS)

# The documentation site in site/ (strict: a warning is an error; `make test` builds it too)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# Regenerate requirements.lock: resolve pyproject.toml (+ [test]) from scratch in a
# throw-away venv, using a placeholder `sim` package so the real code is not needed.
lock:
	@py="$$(scripts/find-python)"; \
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	mkdir "$$tmp/proj" "$$tmp/proj/sim"; \
	cp pyproject.toml "$$tmp/proj/"; \
	echo "__version__ = \"0.0.0\"" > "$$tmp/proj/sim/__init__.py"; touch "$$tmp/proj/README.md"; \
	echo "make: resolving with $$py ($$("$$py" -V 2>&1)) in $$tmp"; \
	"$$py" -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" $(PIP) install --upgrade pip; \
	"$$tmp/venv/bin/python" $(PIP) install -e "$$tmp/proj[test]"; \
	{ \
	    echo "# requirements.lock -- exact pins for payment-sim and its [test] extra (incl. transitive deps)."; \
	    echo "# Generated by \`make lock\` with $$("$$tmp/venv/bin/python" -V 2>&1) on $$(uname -sm):"; \
	    echo "#   fresh venv + \`pip install -e '.[test]'\` + \`pip freeze --exclude-editable\`"; \
	    echo "#   (project itself and pip/setuptools/wheel omitted)."; \
	    echo "# Used as a constraints file: pip install -c requirements.lock -e '.[test]'"; \
	    echo "# Regenerate with: make lock"; \
	    "$$tmp/venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check \
	        | grep -viE '^(pip|setuptools|wheel|payment-sim)([=@ ]|$$)'; \
	} > requirements.lock.tmp; \
	mv requirements.lock.tmp requirements.lock; \
	echo "make: wrote requirements.lock ($$(grep -vc '^#' requirements.lock) packages)"

clean:
	rm -rf $(VENV)
