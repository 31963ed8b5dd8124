"""Tributum's local stack: the official emulators, every function, and one gateway."""
