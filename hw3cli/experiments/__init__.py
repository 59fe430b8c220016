"""One module per experiment: a frozen config dataclass and a `run(config)` that owns the display and files."""
