"""Test support shipped in the package, so every area's tests share one real control plane."""
