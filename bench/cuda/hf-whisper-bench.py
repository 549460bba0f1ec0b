#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hf-whisper-bench.py — the throughput workload of lmw-cuda-bench through Hugging Face
transformers, for the ratio ours / theirs (scripts/gpu-check.sh runs it where torch and
transformers import and a CUDA device is present).

    hf-whisper-bench.py [--models base,large-v3] [--requests 64] [--seconds 60]
                        [--tokens 100] [--device 0]

For each shape: a WhisperForConditionalGeneration with random weights of the real dimensions
(the time doesn't depend on the values), fp16 on the GPU, SDPA attention; `requests`
concurrent requests of `seconds` s are ceil(seconds / 30) windows each, decoded as batches of
`requests` windows (each window's log-mel input random) with batched greedy generation of
exactly `tokens` new tokens (min_new_tokens = max_new_tokens: random weights never stop on
their own), through GenerationMixin.generate (the Whisper-specific generate needs a trained
generation config).  One warm-up batch first; the time covers the encoder and the decoding of
every window, synchronised.  Prints one line per shape:

    hf base 64 x 60 s, 100 tokens/window: 12.3 s, 312 audio-hours/hour
"""
import argparse
import sys
import time

SHAPES = {
    # name: (n_mels, d_model, heads, layers, vocab)
    "tiny": (80, 384, 6, 4, 51865),
    "base": (80, 512, 8, 6, 51865),
    "small": (80, 768, 12, 12, 51865),
    "medium": (80, 1024, 16, 24, 51865),
    "large-v3": (128, 1280, 20, 32, 51866),
}


def build(name, device, torch, transformers):
    n_mels, d, heads, layers, vocab = SHAPES[name]
    config = transformers.WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=n_mels,
        d_model=d,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=4 * d,
        decoder_ffn_dim=4 * d,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=50258,
        eos_token_id=50257,
        pad_token_id=50257,
        bos_token_id=50257,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    try:
        config._attn_implementation = "sdpa"
    except AttributeError:
        pass
    with torch.device(device):
        model = transformers.WhisperForConditionalGeneration(config)
    model = model.to(device=device, dtype=torch.float16).eval()
    return model, n_mels


def generate(model, feats, tokens, torch, transformers):
    start = torch.full((feats.shape[0], 1), 50258, dtype=torch.long, device=feats.device)
    with torch.inference_mode():
        out = transformers.generation.utils.GenerationMixin.generate(
            model,
            input_features=feats,
            decoder_input_ids=start,
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
            num_beams=1,
            use_cache=True,
        )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="base,large-v3")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--device", type=int, default=0)
    args = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"hf-whisper-bench: skipped: {e}", file=sys.stderr)
        return 77
    if not torch.cuda.is_available():
        print("hf-whisper-bench: skipped: no CUDA device for torch", file=sys.stderr)
        return 77
    device = torch.device("cuda", args.device)
    windows_per = (args.seconds + 29) // 30
    for name in args.models.split(","):
        if name not in SHAPES:
            print(f"hf-whisper-bench: unknown shape {name}", file=sys.stderr)
            return 2
        model, n_mels = build(name, device, torch, transformers)
        feats = torch.randn(args.requests, n_mels, 3000, device=device, dtype=torch.float16)
        out = generate(model, feats[: min(4, args.requests)], 4, torch, transformers)  # warm-up
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(windows_per):
            out = generate(model, feats, args.tokens, torch, transformers)
        torch.cuda.synchronize(device)
        wall = time.perf_counter() - t0
        new = out.shape[1] - 1
        if new != args.tokens:
            print(f"hf-whisper-bench: {name}: {new} tokens generated, not {args.tokens}",
                  file=sys.stderr)
            return 1
        ahph = args.requests * args.seconds / wall
        print(f"hf {name} {args.requests} x {args.seconds} s, {args.tokens} tokens/window: "
              f"{wall:.1f} s, {ahph:.0f} audio-hours/hour", flush=True)
        del model, feats, out
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
