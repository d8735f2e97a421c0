"""What the operator renders, `qwenops-serve` accepts: each container's argv parses as the image will."""

import pytest

from images.serving.qwenops_serve.cli import build_parser, split_vllm_args
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.render.defaults import with_image
from qwenops.render.desired import Owner, desired_deployment

OWNER = Owner(name="chat", namespace="llm", uid="u")
SPEC = {
    "model": {
        "name": "Qwen/Qwen3-8B",
        "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5",
        "servedModelName": "qwen3-8b",
        "files": [{"name": "model-00001-of-00005.safetensors", "sha256": "5f3a" + "0" * 60}],
        "tokenSecret": {"name": "hf-token"},
    },
    "engine": {"maxModelLen": 8192, "extraArgs": ["--reasoning-parser", "qwen3"]},
}


@pytest.mark.parametrize("raw", [SPEC, {"model": {k: SPEC["model"][k] for k in ("name", "revision", "servedModelName")}}])
def test_every_rendered_step_parses(raw: dict[str, object]) -> None:
    spec = with_image(QwenDeploymentSpec.model_validate(raw), "serving:1")
    pod = desired_deployment(OWNER, spec, "r", track="stable", replicas=1)["spec"]["template"]["spec"]
    for container in (*pod["initContainers"], *pod["containers"]):
        assert container["command"][0] == "qwenops-serve"
        ours, vllm = split_vllm_args(container["command"][1:] + container["args"])
        args = build_parser().parse_args(ours)  # exits (SystemExit) on anything it does not take
        assert args.command == container["command"][1]
        assert args.revision == raw["model"]["revision"]  # type: ignore[index]
        assert (vllm is not None) == (args.command == "serve")
