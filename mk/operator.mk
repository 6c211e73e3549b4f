# CoinFeed operator: tests against a real kube-apiserver, benchmark (CRD + RBAC: make generate).
TEST_TARGETS += test-operator

##@ Operator

test-operator: venv ## Operator: reconcile against etcd/kube-apiserver/controller-manager (builders: test-unit)
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null
	$(PYTEST) tests/system/operator

bench-operator: venv ## Operator: apply -> children + status latency for 1 and 50 CoinFeeds
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null
	PYTHONPATH=$(CURDIR) $(PY) bench/reconcile.py --write-readme

.PHONY: test-operator bench-operator
