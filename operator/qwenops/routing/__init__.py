"""Traffic routers: how a canary's weight is carried (the replica ratio behind one Service, or exact
weights on an HTTPRoute), behind one small protocol (`router.Router`) and a registry. Pure: the
controller reads and patches the objects a router names.
"""
