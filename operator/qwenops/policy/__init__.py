"""The rollout policy: from the spec, the last status, what the API shows and one analysis reading,
what should run, with how much traffic, and why (`rollout.decide`). Pure: no I/O, time is an
argument.
"""
