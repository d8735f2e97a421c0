"""The edges: the Kubernetes API client, the Prometheus HTTP API, and the operator's own metrics.
The only modules that talk to a server.
"""
