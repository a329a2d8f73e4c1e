"""Synthesis of new problems per subject (the `synthesize` stage's library)."""
