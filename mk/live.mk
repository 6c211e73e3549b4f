# Live area: `coinstream up` (the supervised embedded pipeline) and the dashboard (Dash), whose
# browser tests drive Debian's chromium with playwright.
TEST_TARGETS += test-live

CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

browser: $(CHROMIUM) ## Install Debian's chromium + chromedriver for the browser tests (apt, needs root)

test-live: venv browser ## `coinstream up` for real (kill a child, Ctrl-C); the dashboard in a real headless chromium
	$(PYTEST) tests/system/app tests/system/dashboard

dashboard: venv ## The live dashboard on http://127.0.0.1:8050 over the local stack (DuckDB)
	$(BIN)/coinstream dashboard

.PHONY: browser test-live dashboard

dashboard-port-forward: ## The kind cluster's live dashboard on http://127.0.0.1:$(DASHBOARD_PORT) (default 8050)
	bash kind/run.sh dashboard-port-forward

.PHONY: dashboard-port-forward
