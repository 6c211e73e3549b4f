"""Configuration shared by the local stack and the Helm charts (generated into charts/)."""
