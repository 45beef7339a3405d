"""The benchmarks (``make bench``): each module a script, ``.venv/bin/python bench/<name>.py``."""
