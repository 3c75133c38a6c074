"""WSGI entry point for the Django example.

examples/serve mounts this file with `WSGIScriptAlias / .../mysite/wsgi.py`
and puts the project directory (the one holding mysite/) on sys.path with
`WSGIPythonPath`.
"""

import os
import sys

_project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _project not in sys.path:
    sys.path.insert(0, _project)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
