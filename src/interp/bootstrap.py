"""mod_wsgi_rs bootstrap: runs once in every interpreter (main and named).

It provides what applications see of the module in Python: the
`mod_wsgi` and `apache` modules, the request objects (`wsgi.input`,
`wsgi.errors`, `start_response`, `wsgi.file_wrapper`) over native
functions the module injects as `_native_*`, the events API, and the
loading of WSGI scripts as modules named `_mod_wsgi_<md5 of path>`.
Everything here is per interpreter: no object is shared between them.
"""

import functools
import hashlib
import io
import sys
import threading
import types

_lock = threading.RLock()
_names = {}
_loaded = {}
_local = threading.local()

# Filled in by configure().
mod_wsgi = None
# The environ keys whose values are the same for every request.
environ_template = {}
# The environ key strings made once (a tuple from Rust, see wsgi/keys.rs).
environ_keys = ()
events_on = False
# Whether server_metrics() returns the scoreboard in this process.
server_metrics_on = False


class MissingCallable(Exception):
    pass


# ---------------------------------------------------------------- streams

class Log(object):
    """A binary, write-only stream into Apache's error log."""

    __slots__ = ('_h', 'name')

    def __init__(self, handle, name):
        self._h = handle
        self.name = name

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, str)):
            # Any other bytes-like object (memoryview, array, mmap): its
            # bytes; anything else raises TypeError here.
            data = memoryview(data).tobytes()
        return _native_log_write(self._h, data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        _native_log_flush(self._h)

    def close(self):
        _native_log_flush(self._h)

    @property
    def closed(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    def isatty(self):
        return False

    def fileno(self):
        raise OSError('Apache log object has no file descriptor')


def text_stream(handle, name):
    return io.TextIOWrapper(Log(handle, name), encoding='utf-8',
                            errors='replace', line_buffering=True)


class RequestTimeout(BaseException):
    """Raised in a daemon request's thread when the request has run past
    request-timeout (its client has had a 504). A BaseException, so a
    plain `except Exception` does not swallow it; `finally` blocks run."""

    __module__ = 'mod_wsgi'


class Input(object):
    """wsgi.input: the request body."""

    # Reported as mod_wsgi reports its classes (type(environ['wsgi.input'])).
    __module__ = 'mod_wsgi'
    __slots__ = ('_h',)

    def __init__(self, handle):
        self._h = handle

    def read(self, size=-1):
        return _native_input_read(self._h, size)

    def readline(self, size=-1):
        return _native_input_readline(self._h, size)

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = _native_input_readline(self._h, -1)
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = _native_input_readline(self._h, -1)
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass


class FileWrapper(object):
    """wsgi.file_wrapper: a real file is sent by Apache from its descriptor."""

    __module__ = 'mod_wsgi'

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def make_request(input_handle, log_handle, response_handle):
    """The per-request objects: (wsgi.input, wsgi.errors, start_response)."""
    return (Input(input_handle), text_stream(log_handle, '<wsgi.errors>'),
            functools.partial(_native_start_response, response_handle))


def ssl_callables(handle):
    """mod_ssl.is_https and mod_ssl.var_lookup for the auth scripts."""
    return (functools.partial(_native_is_https, handle),
            functools.partial(_native_ssl_var, handle))


class Restricted(object):
    """sys.stdin/sys.stdout under WSGIRestrictStdin/WSGIRestrictStdout."""

    __module__ = 'mod_wsgi'

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise OSError('%s access restricted by mod_wsgi' % self._name)


# ------------------------------------------------------------ events API

def subscribe_events(callback):
    global events_on
    mod_wsgi.event_callbacks.append(callback)
    if not events_on:
        # the events carry the clocked measurements (I/O, CPU, GIL times)
        _native_enable_stats_timing()
    events_on = True
    return callback


def subscribe_shutdown(callback):
    mod_wsgi.shutdown_callbacks.append(callback)
    return callback


def subscribe_signals(callback):
    """SIGHUP and SIGUSR2 of a daemon process, as 'process_signal'
    events; in embedded mode the callback is never called (logged)."""
    if mod_wsgi.process_group:
        mod_wsgi.signal_callbacks.append(callback)
    else:
        import traceback
        _native_server_log(6, "[WSGI-RS-I454] mod_wsgi.subscribe_signals() called outside daemon "
                              "mode; the callback will never be called (signals reach "
                              "subscribers only in daemon processes).")
        for line in ''.join(traceback.format_stack(limit=5)).rstrip().splitlines():
            _native_server_log(6, line)
    return callback


def publish_signal(signum, signame):
    """Called on the daemon's signal dispatcher thread."""
    event = {'signum': signum, 'signame': signame}
    _fire('process_signal', dict(event))
    for callback in list(mod_wsgi.signal_callbacks):
        try:
            callback('process_signal', **event)
        except Exception:
            import traceback
            traceback.print_exc()


def request_data():
    try:
        return _local.request_data
    except AttributeError:
        raise RuntimeError('no active request for this thread') from None


def _fire(name, event):
    for callback in list(mod_wsgi.event_callbacks):
        try:
            result = callback(name, **event)
        except Exception:
            import traceback
            traceback.print_exc()
            continue
        if isinstance(result, dict):
            event.update(result)
    return event


def begin_request(environ, application, request_id, thread_id):
    """Called before the application: returns the application to call
    (a request_started subscriber may replace it)."""
    data = {}
    _local.request_data = data
    mod_wsgi.active_requests[request_id] = data
    if not events_on:
        return application
    event = _native_request_stats()
    event.update({
        'request_id': request_id, 'thread_id': thread_id,
        'daemon_connects': 1 if event['queue_start'] else 0, 'daemon_restarts': 0,
        'application_object': application,
        'callable_object': environ.get('mod_wsgi.callable_object', 'application'),
        'request_environ': environ, 'request_data': data})
    event = _fire('request_started', event)
    return event.get('application_object', application)


def response_started(request_id, status, headers, exc_info):
    if events_on:
        _fire('response_started', {
            'request_id': request_id, 'response_status': status,
            'response_headers': headers, 'exception_info': exc_info,
            'request_data': getattr(_local, 'request_data', {})})


def request_exception(request_id, exc_type, exc_value, exc_tb):
    if events_on:
        _fire('request_exception', {
            'request_id': request_id,
            'exception_info': (exc_type, exc_value, exc_tb),
            'request_data': getattr(_local, 'request_data', {})})


def end_request(request_id, thread_id):
    data = mod_wsgi.active_requests.pop(request_id, None)
    try:
        del _local.request_data
    except AttributeError:
        pass
    if events_on:
        event = _native_request_stats()
        del event['application_start']
        event.update({
            'request_id': request_id, 'thread_id': thread_id,
            'request_data': data if data is not None else {}})
        _fire('request_finished', event)


def process_stopping(reason=''):
    """Runs shutdown callbacks and process_stopping subscribers."""
    for callback in list(mod_wsgi.shutdown_callbacks):
        try:
            callback('process_stopping', shutdown_reason=reason)
        except Exception:
            import traceback
            traceback.print_exc()
    if events_on:
        _fire('process_stopping', {'shutdown_reason': reason})


def start_recording_metrics():
    """Starts recording for request_metrics() and process_metrics() in
    this process (all its interpreters); calling it again does nothing."""
    _native_start_recording_metrics()


def request_metrics():
    """What this process did since the previous call (or since
    start_recording_metrics()): a dict, emptied by each call, or None
    before start_recording_metrics()."""
    return _native_request_metrics()


def process_metrics():
    """This process's lifetime figures (a dict), or None before
    start_recording_metrics()."""
    return _native_process_metrics()


def server_metrics():
    """A snapshot of Apache's scoreboard (a dict), or None unless server
    metrics are enabled for this process: WSGIServerMetrics On in embedded
    mode, server-metrics=On for a daemon process group."""
    if not server_metrics_on:
        return None
    return _native_server_metrics()


def _os():
    import os
    return os


# --------------------------------------------------------------- logging

def _make_log_handler():
    import logging

    class LogHandler(logging.Handler):
        """Sends Python logging records to Apache's error log at the
        matching Apache level."""

        def emit(self, record):
            try:
                msg = self.format(record)
                if record.levelno >= logging.CRITICAL:
                    level = 2
                elif record.levelno >= logging.ERROR:
                    level = 3
                elif record.levelno >= logging.WARNING:
                    level = 4
                elif record.levelno >= logging.INFO:
                    level = 6
                else:
                    level = 7
                for line in msg.splitlines() or ['']:
                    _native_server_log(level, line)
            except Exception:
                self.handleError(record)

    return LogHandler


# ---------------------------------------------------------- configuration

def _restrict_signals():
    import signal

    def intercept(signum, handler):
        import traceback
        stack = ''.join(traceback.format_stack(limit=5)).rstrip()
        _native_server_log(4, '[WSGI-RS-W305] Callback registration for signal %d '
                              'ignored (WSGIRestrictSignal On).' % signum)
        for line in stack.splitlines():
            _native_server_log(4, line)
        return signal.getsignal(signum)

    signal.signal = intercept


def _add_site_dirs(paths):
    import site
    before = list(sys.path)
    for entry in paths:
        site.addsitedir(entry)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + [p for p in sys.path if p not in added]


def configure(version, apache_version, threads, processes, python_path,
              group, process_group, options):
    """Sets up this interpreter like every other one."""
    global mod_wsgi, server_metrics_on, environ_keys
    environ_keys = options.get('environ_keys', ())
    sys.argv = ['mod_wsgi']
    module = types.ModuleType('mod_wsgi')
    module.version = (4, 9, 4)
    module.mod_wsgi_rs_version = version
    module.process_group = process_group
    module.application_group = group
    module.maximum_processes = processes
    module.threads_per_process = threads
    module.FileWrapper = FileWrapper
    module.RequestTimeout = RequestTimeout
    module.subscribe_events = subscribe_events
    module.subscribe_shutdown = subscribe_shutdown
    module.subscribe_signals = subscribe_signals
    module.signal_callbacks = []
    module.event_callbacks = []
    module.shutdown_callbacks = []
    module.active_requests = {}
    module.request_data = request_data
    module.start_recording_metrics = start_recording_metrics
    module.request_metrics = request_metrics
    module.process_metrics = process_metrics
    module.server_metrics = server_metrics
    _native_metrics_configure(max(1, threads), bool(process_group))
    server_metrics_on = bool(options.get('server_metrics'))
    module.LogHandler = _make_log_handler()
    mod_wsgi = module
    sys.modules['mod_wsgi'] = module
    environ_template.update({
        'wsgi.version': (1, 0), 'wsgi.run_once': False,
        'wsgi.input_terminated': True, 'wsgi.file_wrapper': FileWrapper,
        'apache.version': apache_version, 'mod_wsgi.version': (4, 9, 4),
        'mod_wsgi.ignore_activity': '0', 'mod_wsgi.process_group': process_group,
    })
    apache = types.ModuleType('apache')
    apache.version = apache_version
    apache.maximum_processes = processes
    apache.threads_per_process = threads
    for key in ('description', 'mpm_name', 'build_date'):
        setattr(apache, key, options.get(key, ''))
    sys.modules['apache'] = apache
    sys.stdout = text_stream(options['stdout'], '<stdout>')
    sys.stderr = text_stream(options['stderr'], '<stderr>')
    if options.get('restrict_stdout'):
        sys.stdout = Restricted('sys.stdout')
    if options.get('restrict_stdin'):
        sys.stdin = Restricted('sys.stdin')
    if options.get('restrict_signal', True):
        _restrict_signals()
    if options.get('python_eggs'):
        _os().environ['PYTHON_EGG_CACHE'] = options['python_eggs']
    if python_path:
        _add_site_dirs(python_path)
    if options.get('notice'):
        _native_server_log(5, options['notice'])
    if options.get('switch_interval'):
        # per GIL: an interpreter with its own GIL needs its own setting
        sys.setswitchinterval(options['switch_interval'])
    if group:
        _watch_extensions(group, bool(options.get('own_gil')))


_single_phase_files = {}


def _single_phase_file(path):
    """True when the extension file at `path` uses single-phase
    initialisation, read from the file without loading it: a multi-phase
    module's init function returns PyModuleDef_Init(&def), so its file
    imports that symbol; a single-phase one's does not. Loading would run
    the module's init, which in a sub-interpreter may already misbehave
    (numpy 2 fails inside it on 3.13)."""
    known = _single_phase_files.get(path)
    if known is None:
        try:
            with open(path, 'rb') as f:
                known = b'\0PyModuleDef_Init\0' not in f.read()
        except OSError:
            known = False
        _single_phase_files[path] = known
    return known


def _watch_extensions(group, own_gil):
    """In a named sub-interpreter, warn once about each C extension that
    uses single-phase initialisation (it does not support
    sub-interpreters). With its own GIL, CPython cannot load such
    extensions (nor those not declaring per-interpreter GIL support): they
    get an ImportError saying what to do, logged once per module."""
    from importlib import machinery
    loader = machinery.ExtensionFileLoader
    original = loader.exec_module
    original_create = loader.create_module
    warned = set()

    def warn(name):
        if name not in warned:
            warned.add(name)
            _native_server_log(4, "[WSGI-RS-W301] application group '%s' imported the C "
                               "extension module '%s', which does not support "
                               "sub-interpreters (single-phase initialisation, or it says "
                               "so); it may "
                               "misbehave or hang here. Run this application in the main "
                               "interpreter with WSGIApplicationGroup %%{GLOBAL}."
                               % (group, name))

    def refuse(spec, cause):
        text = ("C extension module '%s' cannot be loaded in application group '%s', "
                "which has its own GIL (WSGIPerInterpreterGIL On): it does not "
                "support per-interpreter GIL. Run this application with "
                "WSGIApplicationGroup %%{GLOBAL}, or set WSGIPerInterpreterGIL Off "
                "for this group." % (spec.name, group))
        if spec.name not in warned:
            warned.add(spec.name)
            _native_server_log(3, "[WSGI-RS-E306] " + text)
        error = ImportError(text, name=spec.name, path=getattr(spec, 'origin', None))
        error.__cause__ = cause
        return error

    def create_module(self, spec):
        single = _single_phase_file(getattr(spec, 'origin', None) or self.path)
        if single and own_gil:
            raise refuse(spec, None)
        if single:
            warn(spec.name)
        try:
            return original_create(self, spec)
        except ImportError as e:
            if own_gil and 'subinterpreter' in str(e):
                raise refuse(spec, e) from e
            raise

    def exec_module(self, module):
        original(self, module)
        name = getattr(module, '__name__', '?')
        if name not in warned and _native_single_phase(module):
            warn(name)

    loader.create_module = create_module
    loader.exec_module = exec_module


# ---------------------------------------------------------------- loading

def _module_name(path):
    name = _names.get(path)
    if name is None:
        digest = hashlib.md5(path.encode('utf-8', 'surrogateescape')).hexdigest()
        name = _names[path] = '_mod_wsgi_' + digest
    return name


def _stale(module, mtime, reloading, resource):
    if module is None:
        return True
    if not reloading:
        return False
    # Through the module's dict: a missing module attribute costs a
    # formatted AttributeError on every request.
    namespace = module.__dict__
    if namespace.get('__mtime__') != mtime:
        return True
    hook = namespace.get('reload_required')
    if hook is None or not resource:
        return False
    try:
        return bool(hook(resource))
    except Exception:
        # A hook that always fails must not reload on every request: the
        # loaded module is kept, and the failure logged.
        import traceback
        _native_server_log(4, "[WSGI-RS-W109] reload_required() of WSGI script '%s' "
                              "raised; the loaded module is kept." % module.__file__)
        for line in traceback.format_exc().rstrip().splitlines():
            _native_server_log(4, line)
        return False


def _exec(path, name, mtime):
    _native_server_log(6, "[WSGI-RS-I110] Loading WSGI script '%s' (process group '%s', "
                          "application group '%s')." % (path, mod_wsgi.process_group,
                                                        mod_wsgi.application_group))
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


def load(path, mtime, callable_name, reloading, resource=None):
    """Returns the callable `callable_name` of the script at `path`.

    A module is used only once it has finished executing: concurrent first
    requests wait for the loader instead of seeing a half-run module."""
    name = _module_name(path)
    module = _loaded.get(name)
    if _stale(module, mtime, reloading, resource):
        with _lock:
            current = _loaded.get(name)
            # Reload unless another thread did meanwhile. Not asked again:
            # reload_required() may answer True only once (a flag file).
            if current is module or current is None:
                _loaded.pop(name, None)
                current = _exec(path, name, mtime)
                _loaded[name] = current
            module = current
    try:
        return getattr(module, callable_name)
    except AttributeError:
        raise MissingCallable(
            "Target WSGI script '%s' does not contain WSGI application '%s'."
            % (path, callable_name)) from None


def import_script(path, mtime):
    """WSGIImportScript: loads the script at start-up."""
    name = _module_name(path)
    with _lock:
        if name not in _loaded:
            _loaded[name] = _exec(path, name, mtime)
