"""Operator commands: each parses its arguments and prints; the core does the work."""
