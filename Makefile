# Sparsity in Machine Learning: build the book, test the package, run the benchmarks.
#   make book    execute every notebook and build the HTML site into _build/html/
#   make book-student   the same site without exercise solutions, into _build/student/_build/html/
#   make pdf     the whole book as one PDF, _build/html/sparsity-in-ml.pdf (checked in CI)
#   make release what a tagged release bundles (wheel, sdist, PDF, executed notebooks) into dist/
#   make test    ruff + pytest tests/ + every notebook executed (through the book build's cache)
#   make bench   every benchmark in benchmarks/ (make bench QUICK=1 for the short version)
# Everything runs inside .venv, created on first use from requirements-dev.txt (which includes
# the reading environment, requirements.txt).
#
# Each notebook is executed once across `make test` and `make book`: both go through the book
# build's execution cache (_build/.jupyter_cache), so whichever runs second reuses the first's
# execution. `make nbval` still runs the notebooks through nbval, on demand (a second execution).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STRICT ?= 1
QUICK  ?=

# Changes to these must re-execute the notebooks (the execution cache only sees notebook code):
# the package, the pins and every file under data/ (weights, corpora, tokenizers the notebooks
# read). Sphinx only re-reads documents that changed, so the doctrees go too: otherwise an
# unchanged notebook keeps its old page and is never re-executed against the new package.
# The hash covers file names and contents (sha256sum of each file), so a renamed file counts.
DEPS_FILES := $(wildcard requirements*.txt) pyproject.toml \
              $(sort $(shell find sparsecourse -name '*.py' 2>/dev/null)) \
              $(sort $(shell find data -type f 2>/dev/null))
DEPS_HASH   = $(shell sha256sum $(DEPS_FILES) | sha256sum | cut -c1-16)

# torch's and numba's OpenMP threads sleep instead of spinning while they wait: on a busy or
# throttled machine spinning threads starve the working ones (sparsecourse/_threads.py). The
# runtimes read this when they load, so it goes into the environment of every kernel and test.
export OMP_WAIT_POLICY ?= PASSIVE
export KMP_BLOCKTIME ?= 0
# OpenBLAS's idle threads spin about 0.1 s by default and slow the numba kernel run next
export OPENBLAS_THREAD_TIMEOUT ?= 16

ifeq ($(STRICT),1)
JB_FLAGS := -n -W --keep-going
endif

.PHONY: all install lock print-deps book book-student pdf release notebooks test lint pytest nbval bench clean distclean

all: test book

# requirements-lock.txt pins every transitive package too (pip constraints); `make lock`
# rewrites it from .venv after a pin changes, and CI checks that .venv matches it.
$(STAMP): requirements.txt requirements-dev.txt requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt -c requirements-lock.txt
	touch $@

install: $(STAMP)

lock:  # not through $(STAMP): its install holds the old lock, which a changed pin contradicts
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python .ci/lock.py write
	touch $(STAMP)

print-deps:  # the files whose change clears the execution cache (.ci/check_cache_keys.py)
	@echo $(DEPS_FILES)

book: $(STAMP)
	@mkdir -p _build
	@if [ "$$(cat _build/.deps-hash 2>/dev/null)" != "$(DEPS_HASH)" ]; then \
	  echo "sparsecourse/, the pins or data/ changed: clearing the execution cache and Sphinx's doctrees"; \
	  rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute; \
	fi
	$(BIN)/jupyter-book build . --builder html $(JB_FLAGS)
	$(BIN)/python book/_ext/executed_notebooks.py _build
	@echo "$(DEPS_HASH)" > _build/.deps-hash
	@echo "Book built: open _build/html/index.html"

# The student edition: the same site without the exercise solutions (code cells of solutions
# included), for instructors who assign the exercises. It reuses the full edition's execution
# cache, so it executes nothing new; Sphinx rebuilds it from scratch each time (about a minute).
book-student: book
	rm -rf _build/student
	$(BIN)/python book/_ext/student_config.py > _build/student_config.yml
	$(BIN)/jupyter-book build . --builder html $(JB_FLAGS) \
	  --config _build/student_config.yml --path-output _build/student
	$(BIN)/python book/_ext/executed_notebooks.py _build --html _build/student/_build/html \
	  --strip-solutions
	@echo "Student edition built: open _build/student/_build/html/index.html"

# The whole book as one PDF (EXPERIMENTAL, not in CI yet): the site's pages joined in reading
# order and printed by headless Chromium, then checked (page count, every chapter title, images).
pdf: book
	$(BIN)/python book/_ext/print_pdf.py _build/html _build/html/sparsity-in-ml.pdf
	$(BIN)/python book/_ext/print_pdf.py --check _build/html/sparsity-in-ml.pdf --site _build/html

# What a tagged release bundles, into dist/: the wheel and sdist, the PDF and the executed
# notebooks. See "Releases" in README.md.
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' sparsecourse/__init__.py)
release: $(STAMP)
	$(BIN)/python .ci/colab_cell.py set-ref v$(VERSION)
	$(MAKE) pdf
	rm -rf dist && mkdir -p dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*
	cp _build/html/sparsity-in-ml.pdf dist/sparsity-in-ml-$(VERSION).pdf
	cp _build/html/notebooks.zip dist/sparsity-in-ml-notebooks-$(VERSION).zip
	@ls -l dist
	@echo "Now: git commit -am 'Release v$(VERSION)', git tag v$(VERSION), git push origin v$(VERSION),"
	@echo "attach dist/* to the release; then python .ci/colab_cell.py set-ref main and commit."

lint: $(STAMP)
	$(BIN)/ruff check sparsecourse tests benchmarks book .ci

pytest: $(STAMP)
	$(BIN)/pytest tests/

nbval: $(STAMP)
	$(BIN)/pytest --nbval-lax --nbval-current-env book/

# Every notebook executed top to bottom in a fresh kernel (strict: an error fails), then the
# per-notebook time budget; the site built on the way is what `make book` would build.
notebooks: book
	$(BIN)/python .ci/notebook_times.py

test: lint pytest notebooks

bench: $(STAMP)
	@set -e; for f in benchmarks/[!_]*.py; do \
	  echo "== $$f"; $(BIN)/python $$f $(if $(QUICK),--quick); \
	done

clean:
	rm -rf _build dist .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
