# The two commands: `make run` (set up, start the embedded servers, migrate, serve web + worker + beat,
# and `services`: a supervisor that restarts a dead embedded server within a second, on its port)
# and `make test` (its pytest plugin starts and stops its own throw-away servers).
# Nothing starts on import: `services` is the one step that starts the embedded PostgreSQL and Redis
# of AGENCY_DATA_DIR (settings, web, worker and beat only find them); they run until `services-stop`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT

.PHONY: install services run migrate test lint bench bench-minilm services-status services-stop superuser clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m apps.platform.embedded build-pgvector
	touch $@

install: $(BIN)/.installed

# Starts (or finds running) the embedded server of each of DATABASE_URL / REDIS_URL that is unset.
services: install
	$(BIN)/python -m apps.platform.embedded start

migrate: services
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo ""
	@echo "  admin    http://127.0.0.1:$(PORT)/admin/"
	@echo "  API docs http://127.0.0.1:$(PORT)/api/docs/"
	@echo "  health   http://127.0.0.1:$(PORT)/health/"
	@echo "  metrics  http://127.0.0.1:$(PORT)/metrics"
	@echo ""
	$(BIN)/honcho start -f Procfile

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: services
	for b in bench/api.py bench/cache.py bench/embeddings.py bench/tasks.py; do $(BIN)/python $$b || exit 1; done

# Real embeddings (all-MiniLM-L6-v2): needs PyTorch, which the product does not, hence its own requirements.
bench-minilm: services
	$(BIN)/python -m pip install --quiet -r bench/requirements-minilm.txt
	$(BIN)/python bench/minilm.py

services-status: install
	$(BIN)/python -m apps.platform.embedded status

services-stop: install
	$(BIN)/python -m apps.platform.embedded stop

superuser: services
	$(BIN)/python manage.py createsuperuser

clean:
	rm -rf $(VENV) var
