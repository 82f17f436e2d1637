"""Read-only queries for the screens. Each answers small frozen dataclasses, never ORM
objects, so a template cannot trigger a lazy load or write by accident, and each page is
a fixed number of queries however many rows it shows."""
