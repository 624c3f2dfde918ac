"""promhub: Prometheus-compatible monitoring in one Python package and one process."""

__version__ = "0.1.0"
