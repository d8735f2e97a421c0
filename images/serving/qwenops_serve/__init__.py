"""`qwenops-serve`: download, verify and serve one Hugging Face checkpoint pinned to a commit.

The serving image's entrypoint; each step runs in its own container of the pod (`download`, `verify`,
`serve`), on one model-cache volume. See `cli.py` for the commands and exit codes, images/serving's
README for the whole contract. Only the standard library and huggingface_hub are used, and only this
package's own modules are imported relatively, so it runs as `qwenops_serve` in the image and as
`images.serving.qwenops_serve` from the repository root.
"""

from .cli import main

__all__ = ["main"]
