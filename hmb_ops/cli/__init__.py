"""The click layer: parses, calls the core, renders. Never computes."""
