"""Policies: observation -> action chunk. VLA policies, scripted experts, chunk execution."""
