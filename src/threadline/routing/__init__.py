"""Who should own a case."""
