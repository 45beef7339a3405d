# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test lint format bench translations clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@$(PY) -m bot

# The bot, its API and a stand-in for Telegram on this machine, with a chat page at
# http://127.0.0.1:8088 (demo/run.py): a throwaway database, no Telegram, no .env.
demo: $(STAMP)
	@$(PY) -m demo

# pytest runs one process per core (pytest-xdist): the end-to-end tests mostly wait. A
# module marked xdist_group runs on one process, so that the programs it starts once
# (FreeRADIUS, the bot) are started once.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n auto --dist loadgroup

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(STAMP)
	$(PY) bench/enrolment.py
	$(PY) bench/verify.py
	$(PY) bench/webhooks.py

# The English messages marked with N_ / NP_ (babel.cfg says where) into the template, then
# into each catalogue: new messages appear untranslated (tests/test_catalogues.py fails
# until they are translated), changed ones fuzzy. No compile step: the bot compiles each
# .po in memory at start (handlers/texts/__init__.py).
LOCALE := handlers/texts/locale
translations: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k NP_:1,2 --sort-by-file \
		--project="2FA Desk" --copyright-holder="2FA Desk" --add-location=file --width=100 \
		-o $(LOCALE)/messages.pot .
	$(VENV)/bin/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages -l de \
		--init-missing --previous --ignore-obsolete --width=100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
