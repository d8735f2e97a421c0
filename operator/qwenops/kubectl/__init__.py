"""`kubectl qwen`: the plugin's commands (read and annotate through an injected client) and the
screens it prints (pure).
"""
