# The real single-node Kubernetes (issue 9): containerd/runc/CNI from Debian, kubelet, kube-proxy,
# scheduler, CoreDNS and kube-network-policies from the Go proxy, images built here from a
# debootstrap base. Needs root on a Debian machine of the CI kind (the packages install themselves).
# `make test` runs the real-node check (the node's own tests, then the real charts installed and
# one CoinFeed to rows in Trino, the notebook and `helm test`); `make e2e` adds the delete/re-apply
# and the code-change roll. docs/realnode.md has the timings cold and warm.
TEST_TARGETS += test-realnode-check



##@ Real node (root, Debian)

realnode-packages: ## Install the Debian packages the real node needs (docker.io, containerd, runc, CNI, debootstrap, ...)
	bash tools/realnode/install-packages.sh

realnode-binaries: ## Build kubelet/scheduler/proxy/kubectl, CoreDNS, kube-network-policies, spark-operator into the cache
	bash tools/build.sh etcd >/dev/null && bash tools/build.sh kube >/dev/null && bash tools/build.sh node >/dev/null
	bash tools/build.sh coredns >/dev/null && bash tools/build.sh netpol >/dev/null && bash tools/build.sh spark-operator

# Built before pytest starts, so a cold build (two debootstraps, the Spark and app images) is not
# counted against a test's timeout and shows as its own step in the log. Warm: every layer reused.
realnode-images: realnode-packages ## Build the base images and every image the platform runs (no registry)
	bash tools/realnode/dockerd.sh start
	bash tools/realnode/base-images.sh >/dev/null
	bash tools/realnode/images.sh app spark strimzi standins >/dev/null

realnode-ready: venv realnode-packages realnode-binaries realnode-images

test-realnode-check: realnode-ready ## The real node, then the real charts with one CoinFeed to rows in Trino (part of make test)
	$(PYTEST) -s tests/system/realnode/test_node.py tests/system/realnode/test_platform.py -m "not full_e2e"

e2e: realnode-ready ## The whole cluster flow on the real node: the check plus delete/re-apply and a code-change roll
	$(PYTEST) -s tests/system/realnode

test-realnode: e2e

.PHONY: realnode-packages realnode-binaries realnode-images realnode-ready test-realnode-check e2e test-realnode
