"""abac layer."""
