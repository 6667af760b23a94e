"""The VLA model: backbone, action tokenizer, heads, training, checkpoints and the CLI."""
