"""The vLLM serving image, and `vllm_sim`, a simulator that stands for one vLLM pod in tests and demos."""
