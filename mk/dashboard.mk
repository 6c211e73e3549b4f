# Live area: the dashboard (Dash) and its browser tests (Debian's chromium, driven by playwright).
TEST_TARGETS += test-dashboard

CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

browser: $(CHROMIUM) ## Install Debian's chromium + chromedriver for the browser tests (apt, needs root)

test-dashboard: venv browser ## Dashboard in a real headless chromium against a real metastore + Iceberg table
	$(PYTEST) tests/system/dashboard

dashboard: venv ## The live dashboard on http://127.0.0.1:8050 over the local stack (DuckDB)
	$(BIN)/coinstream dashboard

.PHONY: browser test-dashboard dashboard

dashboard-port-forward: ## The kind cluster's live dashboard on http://127.0.0.1:$(DASHBOARD_PORT) (default 8050)
	bash kind/run.sh dashboard-port-forward

.PHONY: dashboard-port-forward
