"""Training and evaluation loops. They yield or return histories and never print."""
