"""Loaded first by pytest (``-p tests.pytest_env``): test-run defaults for settings read from the environment.

The suite talks plain HTTP to its live server and serves static files without ``collectstatic``; production
defaults (HTTPS redirect, hashed static manifest) stay on everywhere else.
"""

import os

os.environ.setdefault("DJANGO_SECURE", "0")
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
