"""Doodle Arena game server: rooms, rounds, live AI guesses, scores in Redis."""

__all__ = ["__version__"]

__version__ = "0.1.0"
