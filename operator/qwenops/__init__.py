"""qwenops: a Kubernetes operator that serves pinned Qwen checkpoints with vLLM and rolls each new
version out as an SLO-judged canary. The layers are folders (docs/architecture.md), each importing
only the ones below it: cli > controller, kubectl > io > policy > analysis, routing, render > api.
"""
