# The warm Spark driver (DRIVER): a Spark Connect server that `lakeforge run --remote` clients share.
#   make server-start    start it in the background on 127.0.0.1:$(SERVER_PORT) (pid, log, token: .lakeforge/server/)
#   make server-status   is it running and listening
#   make server-stop     stop it
# `make run` does not need it: it runs an embedded Spark. Details: docs/operations.md.
SERVER_PORT ?= 15002

.PHONY: server-start server-stop server-status

server-start: install
	$(VENV)/bin/lakeforge server start --config $(CONFIG) --env $(ENV) --port $(SERVER_PORT)

server-stop:
	@if [ -x $(VENV)/bin/lakeforge ]; then $(VENV)/bin/lakeforge server stop; fi

server-status: install
	$(VENV)/bin/lakeforge server status
