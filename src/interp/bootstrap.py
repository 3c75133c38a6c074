"""mod_wsgi_rs bootstrap: runs once in each interpreter at start-up.

Provides the `mod_wsgi` and `apache` modules applications import, and
loads WSGI scripts as modules named `_mod_wsgi_<md5 of path>` (the names
mod_wsgi uses), reloading a script when its modification time changes.
"""

import hashlib
import sys
import threading
import types

_lock = threading.RLock()
_names = {}


class MissingCallable(Exception):
    pass


def configure(version, apache_version, threads, processes, python_path):
    """Sets sys.argv, the mod_wsgi and apache modules, and sys.path."""
    sys.argv = ['mod_wsgi']
    mod_wsgi = types.ModuleType('mod_wsgi')
    mod_wsgi.version = (4, 9, 4)
    mod_wsgi.mod_wsgi_rs_version = version
    mod_wsgi.process_group = ''
    mod_wsgi.application_group = ''
    mod_wsgi.maximum_processes = processes
    mod_wsgi.threads_per_process = threads
    sys.modules['mod_wsgi'] = mod_wsgi
    apache = types.ModuleType('apache')
    apache.version = apache_version
    sys.modules['apache'] = apache
    if python_path:
        import site
        for entry in python_path:
            site.addsitedir(entry)


def _module_name(path):
    name = _names.get(path)
    if name is None:
        digest = hashlib.md5(path.encode('utf-8', 'surrogateescape')).hexdigest()
        name = _names[path] = '_mod_wsgi_' + digest
    return name


def _stale(module, mtime, reloading):
    return module is None or (reloading and getattr(module, '__mtime__', None) != mtime)


def _exec(path, name, mtime):
    with open(path, 'rb') as f:
        source = f.read()
    code = compile(source, path, 'exec', dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = path
    module.__mtime__ = mtime
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load(path, mtime, callable_name, reloading):
    """Returns the WSGI callable of the script at `path`."""
    name = _module_name(path)
    module = sys.modules.get(name)
    if _stale(module, mtime, reloading):
        with _lock:
            module = sys.modules.get(name)
            if _stale(module, mtime, reloading):
                module = _exec(path, name, mtime)
    try:
        return getattr(module, callable_name)
    except AttributeError:
        raise MissingCallable(
            "Target WSGI script '%s' does not contain WSGI application '%s'."
            % (path, callable_name)) from None
