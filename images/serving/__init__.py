"""The vLLM serving image (`qwenops_serve`, its entrypoint), and `vllm_sim`, a simulator that stands for one
vLLM pod in tests and demos."""
