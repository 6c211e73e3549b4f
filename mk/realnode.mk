# The real single-node Kubernetes (issue 9): containerd/runc/CNI from Debian, kubelet, kube-proxy,
# scheduler, CoreDNS and kube-network-policies from the Go proxy, images built here from a
# debootstrap base. Needs root. Not part of `make test` (see the timings in docs/realnode.md).

realnode-packages: ## Install the Debian packages the real node needs (docker.io, containerd, runc, CNI, debootstrap, ...)
	bash tools/realnode/install-packages.sh

realnode-binaries: ## Build kubelet/scheduler/proxy/kubectl, CoreDNS, kube-network-policies, spark-operator into the cache
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null && bash tools/build.sh node >/dev/null
	bash tools/build.sh coredns >/dev/null && bash tools/build.sh netpol >/dev/null && bash tools/build.sh spark-operator

test-realnode: venv realnode-packages realnode-binaries ## The real node: pods, Services, DNS, NetworkPolicies, the cluster flow on Strimzi and on an external Kafka, teardown (root)
	$(PYTEST) tests/system/realnode

test-realnode-byo: venv realnode-packages realnode-binaries ## The short cluster flow on the real node against a Kafka outside the cluster (bring your own Kafka; root)
	$(PYTEST) tests/system/realnode/test_external_kafka.py

.PHONY: realnode-packages realnode-binaries test-realnode test-realnode-byo
