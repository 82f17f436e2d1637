"""Threadline: one customer, one thread, whatever the channel."""

__version__ = "0.1.0"
