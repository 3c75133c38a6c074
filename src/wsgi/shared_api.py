"""mod_wsgi_rs: state shared by every process of one Apache server.

    cache = mod_wsgi_rs.cache('default')      # WSGISharedCache default
    cache.incr('hits')                        # atomic across processes
    with mod_wsgi_rs.lock('report', timeout=5):
        ...

Keys are str (UTF-8) or bytes, values bytes. Counters hold the decimal
number in ASCII (memcached's convention). See docs/shared-state.md.
This module exists in every interpreter; its objects are per interpreter,
the data is shared.
"""

import sys
import threading


class CacheError(Exception):
    """A shared cache could not be opened or used."""


class CacheFull(CacheError):
    """The cache reached its size= limit; nothing was written."""


class LockTimeout(TimeoutError):
    """A named lock was not acquired within its timeout."""


def _key(key):
    if isinstance(key, str):
        return key.encode('utf-8')
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError('cache keys must be str or bytes, not %s' % type(key).__name__)


def _value(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError('cache values must be bytes, not %s' % type(value).__name__)


def _ttl(ttl):
    if ttl is None:
        return None
    ttl = float(ttl)
    if ttl < 0 or ttl != ttl:
        raise ValueError('ttl must be None or a number of seconds >= 0')
    return ttl or None


def _dump(obj):
    """The adapters' encoding: an int as its decimal text (so that incr()
    works on it, atomically), anything else pickled."""
    import pickle
    if type(obj) is int:
        return str(obj).encode('ascii')
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


def _load(data):
    import pickle
    if data[:1] == b'\x80':
        return pickle.loads(data)
    return int(data)


class Cache(object):
    """A named shared cache (WSGISharedCache NAME)."""

    __slots__ = ('_h', 'name')

    def __init__(self, name, handle):
        self.name = name
        self._h = handle

    def __repr__(self):
        return '<mod_wsgi_rs.Cache %r>' % self.name

    def get(self, key, default=None):
        value = _native_cache_get(self._h, key)
        return default if value is None else value

    def set(self, key, value, ttl=None):
        _native_cache_set_many(self._h, [(_key(key), _value(value))], _ttl(ttl))

    def add(self, key, value, ttl=None):
        return _native_cache_add(self._h, _key(key), _value(value), _ttl(ttl))

    def delete(self, key):
        return _native_cache_delete(self._h, _key(key))

    def incr(self, key, delta=1, ttl=None):
        # the common call (an int delta, no ttl) converts nothing here
        return _native_cache_incr(self._h, key, delta if type(delta) is int else int(delta),
                                  None if ttl is None else _ttl(ttl))

    def decr(self, key, delta=1, ttl=None):
        return _native_cache_incr(self._h, key, -int(delta), None if ttl is None else _ttl(ttl))

    def get_many(self, keys):
        """The keys that have a value, as a dict (keys as given)."""
        keys = list(keys)
        values = _native_cache_get_many(self._h, [_key(k) for k in keys])
        return {k: v for k, v in zip(keys, values) if v is not None}

    def set_many(self, mapping, ttl=None):
        items = mapping.items() if hasattr(mapping, 'items') else mapping
        _native_cache_set_many(self._h, [(_key(k), _value(v)) for k, v in items], _ttl(ttl))

    def keys(self, prefix=b''):
        return _native_cache_keys(self._h, _key(prefix) if prefix else b'')

    def clear(self):
        _native_cache_clear(self._h)

    def stats(self):
        return _native_cache_stats(self._h)

    def lock(self, name, timeout=None):
        """mod_wsgi_rs.lock(name, timeout, cache=<this cache>): on a Redis
        cache, a lock across every machine using that server."""
        return lock(name, timeout, cache=self.name)


_caches = {}
_caches_lock = threading.Lock()


def cache(name):
    """The shared cache `name` (WSGISharedCache NAME); CacheError if the
    server configuration has none of that name."""
    found = _caches.get(name)
    if found is None:
        with _caches_lock:
            found = _caches.get(name)
            if found is None:
                found = _caches[name] = Cache(name, _native_cache_open(name))
    return found


_held = threading.local()


class lock(object):
    """A named lock held across the server's processes and threads:

        with mod_wsgi_rs.lock('name', timeout=None, cache=None): ...

    The kernel releases it if its holder dies. With cache= naming a
    redis:// WSGISharedCache the lock lives on that server, for every
    machine using it, and frees itself a lease after its holder died.
    Not re-entrant: taking a lock this thread already holds raises
    RuntimeError."""

    def __init__(self, name, timeout=None, cache=None):
        if not isinstance(name, str):
            raise TypeError('lock names are str')
        if cache is not None and not isinstance(cache, str):
            raise TypeError('cache= is the name of a WSGISharedCache (a str)')
        self.name = name
        self.timeout = timeout
        self.cache = cache
        # cache= on an LMDB cache names this machine's lock of that name:
        # the same lock as without it, so the same re-entrancy key
        self._key = (_native_lock_scope(cache), name)
        self._h = None

    def acquire(self):
        names = _held.__dict__.setdefault('names', set())
        if self._key in names:
            raise RuntimeError('lock %r is already held by this thread' % self.name)
        self._h = _native_lock_acquire(self.name, self.timeout, self.cache)
        names.add(self._key)
        return True

    def release(self):
        h, self._h = self._h, None
        if h is None:
            raise RuntimeError('lock %r is not held' % self.name)
        _held.__dict__.setdefault('names', set()).discard(self._key)
        _native_lock_release(h)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class _AdapterFinder(object):
    """Imports mod_wsgi_rs.django and mod_wsgi_rs.flask from the sources
    built into the module, only when an application asks for them."""

    def __init__(self, sources):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.sources:
            return None
        import importlib.util
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(self.sources[module.__name__], '<%s>' % module.__name__, 'exec')
        exec(code, module.__dict__)


def _install(sources):
    """Makes this module a package whose adapters load on import."""
    globals()['__path__'] = []
    sys.meta_path.append(_AdapterFinder(dict(sources)))
