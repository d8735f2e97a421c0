"""Desired objects: the Deployments and Services of a revision as plain dicts, the spec as the
operator resolves its defaults, the revision hash, the startup budget, and the diff that decides
whether a live object needs a write. Pure.
"""
