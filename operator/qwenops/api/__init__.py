"""The QwenDeployment API: the spec's models and rules, the status, the SLO registry, names and the
generated CRD. The bottom layer: it imports no other part of qwenops.
"""
