# The two commands of the README: `make run` (whole system) and `make test` (every test).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install protos run test test-unit migrate bench lint audit clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check pip==24.3.1
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# gRPC code is generated from the services' .proto files, never committed.
PROTOS := $(wildcard services/*/*/protos/*.proto)
GENERATED := services/service_tickets/service_tickets/protos_gen/tickets_pb2_grpc.py

protos: $(GENERATED)

$(GENERATED): $(PROTOS) deploy/build_protos.py $(STAMP)
	$(BIN)/python deploy/build_protos.py

run: install protos
	$(BIN)/python deploy/local_stack.py

test: install protos
	$(BIN)/python -m pytest -q -ra

test-unit: install
	$(BIN)/python -m pytest -q -m "not e2e" libs gateway services/*/tests/unit

migrate: install
	$(BIN)/python deploy/local_stack.py --migrate-only

bench: install protos
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/gateway.py

lint: install audit
	$(BIN)/ruff check .

# Known vulnerabilities in the pinned dependencies (PyPI's advisory data, or OSV with
# AUDIT_SERVICE=osv). pip-audit lives in a venv of its own so that its dependencies never
# move the project's pins. It needs the registry's JSON API or api.osv.dev: where neither
# is reachable it fails, saying so, rather than passing without having looked.
AUDIT_VENV := .venv-audit
AUDIT_SERVICE ?= pypi
audit:
	@test -x $(AUDIT_VENV)/bin/pip-audit || ($(PYTHON) -m venv $(AUDIT_VENV) && \
		$(AUDIT_VENV)/bin/pip install -q --disable-pip-version-check pip-audit==2.10.1)
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip -s $(AUDIT_SERVICE) \
		-r requirements.lock

clean:
	rm -rf $(VENV) $(AUDIT_VENV) .run services/*/*/protos_gen
