"""Database access: URL resolution and masking, connections, the embedded server, schema, seed."""
