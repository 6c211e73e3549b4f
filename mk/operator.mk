# CoinFeed operator: CRD + RBAC generation, tests against a real kube-apiserver, benchmark.
TEST_TARGETS += test-operator

crds: venv ## Regenerate the CoinFeed CRD and the operator's ClusterRole rules from the models
	$(PY) -m coinstream.models.crd charts/coinstream-crds/files/coinfeeds.coinstream.io.yaml
	$(PY) -m coinfeed_operator.rbac charts/coinstream-operator/files/clusterrole-rules.yaml

test-operator: venv ## Operator: reconcile against etcd/kube-apiserver/controller-manager (builders: test-unit)
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null
	$(PYTEST) tests/system/operator

bench-operator: venv ## Operator: apply -> children + status latency for 1 and 50 CoinFeeds
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null
	$(PY) bench/reconcile.py --write-readme

.PHONY: crds test-operator bench-operator
