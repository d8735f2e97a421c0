"""Canary analysis: the PromQL of each declared SLO, the statistical tests, and the verdict of one
reading. Pure: `io.prom` does the querying.
"""
