# WSGI entry point for the cluster example (app.py beside it is put on
# sys.path by WSGIPythonPath in the hosts' configuration).
from app import app as application  # noqa: F401
