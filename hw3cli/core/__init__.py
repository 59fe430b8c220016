"""Shared plumbing: atomic files, checkpoints, run folders, seeding and devices. Never prints."""
