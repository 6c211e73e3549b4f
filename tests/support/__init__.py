"""What the tests share: the Kubernetes control plane and PKI, the fake CoinGecko server,
test data and helpers per area. Never shipped in the package."""
