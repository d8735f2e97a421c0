"""`python -m qwenops_serve` in the image, `python -m images.serving.qwenops_serve` from the repository."""

from .cli import main

raise SystemExit(main())
