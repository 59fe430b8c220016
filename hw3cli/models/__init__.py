"""Model definitions, each rebuildable from the arguments stored in its checkpoint."""
