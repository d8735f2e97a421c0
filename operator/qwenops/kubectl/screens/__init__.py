"""What `kubectl qwen` prints: a QwenDeployment as text for a person on call. Pure: no I/O, no
clock (`now` is an argument); colour and Unicode are the caller's choice.
"""
