"""The operator's wiring: kopf's handlers, when passes run, and one reconcile pass (observe, decide,
render, apply, write the status) over an injected Kubernetes client.
"""
