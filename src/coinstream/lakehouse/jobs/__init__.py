"""Spark job entry points, shipped in the package.

Locally they run as `python -m coinstream.lakehouse.jobs.<job>`; in the cluster the
SparkApplication points `mainApplicationFile` at the same file inside the Spark image.
"""
