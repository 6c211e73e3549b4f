# Helm charts, images and the kind workflow. Tests here need no container engine; the kind targets do.
TEST_TARGETS += test-charts

KIND_RUN := bash kind/run.sh

##@ Charts and images

test-charts: venv ## Charts: helm lint/template, schemas, promtool rule tests, Dockerfiles, server-side dry-run on a real kube-apiserver
	bash tools/build.sh helm >/dev/null && bash tools/build.sh promtool >/dev/null
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null
	$(PYTEST) tests/system/charts tests/system/images

##@ A kind cluster (needs docker)

kind-up: venv ## kind cluster + images + crds/operator/platform charts, waits until ready (needs docker)
	$(KIND_RUN) up

feed: venv ## Apply examples/coinfeed-$(FEED).yaml (FEED=simulated|coingecko) and wait until Ready
	$(KIND_RUN) feed

trino-port-forward: ## Trino of the kind cluster on https://localhost:$(TRINO_PORT) (default 8443), as the read-only analyst
	$(KIND_RUN) trino-port-forward

notebook: ## JupyterLab of the kind cluster on localhost:8888 (prints the URL with its token)
	$(KIND_RUN) notebook

status: ## Releases, CoinFeeds, Kafka, topics, Spark applications and pods of the kind cluster
	$(KIND_RUN) status

kind-down: ## Delete the kind cluster
	$(KIND_RUN) down

e2e-kind: venv ## kind-up -> CoinFeed -> rows in Trino -> helm test -> notebook -> kind-down (needs docker)
	$(KIND_RUN) e2e

.PHONY: test-charts kind-up feed trino-port-forward notebook status kind-down e2e-kind

pin-digests: venv ## Resolve every chart image's tag to its digest (needs the registries) into values-digests.yaml
	$(PY) tools/image_digests.py pin --profile values-production.yaml

check-digests: venv ## Fail if the production profile leaves any image without a digest
	$(PY) tools/image_digests.py check --profile values-production.yaml

.PHONY: pin-digests check-digests
