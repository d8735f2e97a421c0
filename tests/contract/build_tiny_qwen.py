"""Write a tiny, randomly initialised Qwen2 checkpoint that vLLM can serve on a CPU, fully offline.

    python tests/contract/build_tiny_qwen.py OUTPUT_DIR

Run it with the contract environment's interpreter (it needs `torch`, `transformers` and `tokenizers`,
which the project's own environment does not have). Nothing is downloaded: the configuration is written
here, the weights are drawn from a seeded generator, and the tokenizer is a byte-level BPE trained on the
short text below. The same seed gives the same files, byte for byte (about 220 KB in all):

- `config.json`, `generation_config.json`: a `Qwen2ForCausalLM` with hidden size 64, 2 layers,
  2 attention heads of 32 (vLLM's CPU attention needs a head size of 32 or more) and 1 KV head;
- `model.safetensors`: the weights;
- `tokenizer.json`, `tokenizer_config.json`, `chat_template.jinja`: a byte-level BPE tokenizer of a
  few hundred tokens with Qwen's ChatML specials (`<|im_end|>` ends a turn) and a ChatML template.

The model answers gibberish; it exists so that a real vLLM server starts, serves the OpenAI API and
exports its metrics in seconds rather than downloading gigabytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

VOCAB_SIZE = 384  # byte-level BPE: 256 bytes + merges + specials
MAX_POSITIONS = 1024
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CORPUS = """\
The operator serves pinned checkpoints with an inference server on a pool of accelerators.
A new revision starts beside the serving one as a canary and takes a growing share of the traffic.
Every interval the operator reads both revisions from the metrics store and judges the canary:
the share of failed requests, the ninety-fifth percentile of the end to end latency, and the time
to the first token. A canary that breaches its objectives is rolled back; one that meets them is
promoted and the old revision frees its accelerators. Say hello. Write one short sentence.
What is the capital of France? Paris is the capital of France. Count from one to ten:
one, two, three, four, five, six, seven, eight, nine, ten. The quick brown fox jumps over the
lazy dog. Hello, world! How are you today? I am fine, thank you. Tokens, prompts and answers.
"""
# Qwen's ChatML template (no function calling): what vLLM's chat endpoint renders the messages with.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for part in message['content'] %}"
    "{%- if part['type'] == 'text' %}{{- part['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_tokenizer(output: Path) -> tuple[int, int]:
    """Train the byte-level BPE and save it with its config; returns the vocabulary size and EOS id."""
    # Imported here, after the offline switches above are set (huggingface_hub reads them on import).
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=MAX_POSITIONS,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(output)
    eos = fast.convert_tokens_to_ids("<|im_end|>")
    assert isinstance(eos, int)
    return len(fast), eos


def build_model(output: Path, *, vocab: int, eos: int, seed: int) -> None:
    import torch  # noqa: PLC0415
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM  # noqa: PLC0415

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=MAX_POSITIONS,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=0,  # <|endoftext|>, as Qwen's
        eos_token_id=eos,
        pad_token_id=0,
        dtype="bfloat16",  # what vLLM runs on a CPU anyway
    )
    model = Qwen2ForCausalLM(config).to(torch.bfloat16).eval()
    model.save_pretrained(output, safe_serialization=True)
    GenerationConfig(bos_token_id=0, eos_token_id=eos, pad_token_id=0).save_pretrained(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="directory to write (created; existing files replaced)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    vocab, eos = build_tokenizer(output)
    build_model(output, vocab=vocab, eos=eos, seed=args.seed)
    files = {p.name: p.stat().st_size for p in sorted(output.iterdir()) if p.is_file()}
    print(json.dumps({"path": str(output), "vocab_size": vocab, "files": files}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
