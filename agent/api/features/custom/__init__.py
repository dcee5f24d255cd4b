"""Hooks for the few feature sections whose JSON needs code; each is named from its row in table.py."""
