"""hw3cli: the deep-learning assignment as reproducible command-line experiments."""

__version__ = "0.1.0"
