"""The contract between a real vLLM and the simulator (`make contract`)."""
