# WSGI entry point for the Flask example.
#
# The directory holding app.py must be on sys.path: examples/serve adds it
# with `WSGIPythonPath`.  The fallback below keeps this file usable when it
# is mounted without that directive.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

from app import app as application  # noqa: E402
