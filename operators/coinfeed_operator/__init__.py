"""The CoinFeed operator: reconciles a CoinFeed into a KafkaTopic, producer, backfill Job and stream.

Layout: `config` (operator settings), `builders` (pure: spec -> manifests), `health` (pure: child
objects -> status), `kube` (a small server-side-apply client), `reconcile` (one idempotent pass),
`handlers` (thin kopf wiring), `rbac` (the ClusterRole rules, generated into the chart).
"""
