"""Model-agnostic token decoders shared by text and action tokens.

A model is any callable mapping token ids ``[B, T]`` to logits ``[B, T, V]``; models that
support a prefix KV cache implement :class:`decoding.model.CacheableModel` as well. Nothing
here knows about robots.
"""
