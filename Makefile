# Sparsity in Machine Learning: build the book, test the package, run the benchmarks.
#   make book    execute every notebook and build the HTML site into _build/html/
#   make test    ruff + pytest tests/ + every notebook through nbval
#   make bench   every benchmark in benchmarks/ (make bench QUICK=1 for the short version)
# Everything runs inside .venv, created on first use from requirements.txt.

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

ifeq ($(STRICT),1)
JB_FLAGS := -n -W --keep-going
endif

.PHONY: all install print-deps book test lint pytest nbval bench clean distclean

all: test book

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

install: $(STAMP)

print-deps:  # the files whose change clears the execution cache (.ci/check_cache_keys.py)
	@echo $(DEPS_FILES)

book: $(STAMP)
	@mkdir -p _build
	@if [ "$$(cat _build/.deps-hash 2>/dev/null)" != "$(DEPS_HASH)" ]; then \
	  echo "sparsecourse/ or the pins changed: clearing the execution cache and Sphinx's doctrees"; \
	  rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute; \
	fi
	$(BIN)/jupyter-book build . --builder html $(JB_FLAGS)
	@echo "$(DEPS_HASH)" > _build/.deps-hash
	@echo "Book built: open _build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check sparsecourse tests benchmarks book .ci

pytest: $(STAMP)
	$(BIN)/pytest tests/

nbval: $(STAMP)
	$(BIN)/pytest --nbval-lax --nbval-current-env book/

test: lint pytest nbval

bench: $(STAMP)
	@set -e; for f in benchmarks/[!_]*.py; do \
	  echo "== $$f"; $(BIN)/python $$f $(if $(QUICK),--quick); \
	done

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
