"""mod_wsgi_rs.flask: a Flask-Caching backend on a shared cache.

    app.config['CACHE_TYPE'] = 'mod_wsgi_rs.flask.SharedCache'
    app.config['CACHE_SHARED_NAME'] = 'default'   # WSGISharedCache name

Values are pickled, except integers (ASCII decimal, so that inc()/dec()
are atomic across processes).
"""

import mod_wsgi_rs
from mod_wsgi_rs import _dump, _load

try:
    from flask_caching.backends.base import BaseCache
except ImportError:  # cachelib's base, which Flask-Caching's extends
    from cachelib.base import BaseCache


class SharedCache(BaseCache):
    def __init__(self, name='default', default_timeout=300, key_prefix='',
                 ignore_delete_many_errors=False):
        # Flask-Caching 2.1+ passes ignore_delete_many_errors
        # (CACHE_IGNORE_ERRORS) to every backend; a delete here cannot
        # fail half-way, so it changes nothing but is kept for callers.
        super().__init__(default_timeout=default_timeout)
        self.key_prefix = key_prefix
        self.ignore_errors = ignore_delete_many_errors
        self._cache = mod_wsgi_rs.cache(name)

    @classmethod
    def factory(cls, app, config, args, kwargs):
        kwargs.setdefault('name', config.get('CACHE_SHARED_NAME', 'default'))
        kwargs.setdefault('key_prefix', config.get('CACHE_KEY_PREFIX', ''))
        return cls(*args, **kwargs)

    def _ttl(self, timeout):
        timeout = self._normalize_timeout(timeout)
        return timeout or None

    def get(self, key):
        data = self._cache.get(self.key_prefix + key)
        return None if data is None else _load(data)

    def set(self, key, value, timeout=None):
        self._cache.set(self.key_prefix + key, _dump(value), self._ttl(timeout))
        return True

    def add(self, key, value, timeout=None):
        return self._cache.add(self.key_prefix + key, _dump(value), self._ttl(timeout))

    def delete(self, key):
        return self._cache.delete(self.key_prefix + key)

    def has(self, key):
        return self._cache.get(self.key_prefix + key) is not None

    def get_many(self, *keys):
        found = self._cache.get_many([self.key_prefix + k for k in keys])
        return [None if v is None else _load(v)
                for v in (found.get(self.key_prefix + k) for k in keys)]

    def set_many(self, mapping, timeout=None):
        self._cache.set_many({self.key_prefix + k: _dump(v) for k, v in mapping.items()},
                             self._ttl(timeout))
        return list(mapping)

    def delete_many(self, *keys):
        return [k for k in keys if self.delete(k)]

    def inc(self, key, delta=1):
        return self._cache.incr(self.key_prefix + key, delta)

    def dec(self, key, delta=1):
        return self._cache.incr(self.key_prefix + key, -delta)

    def clear(self):
        if self.key_prefix:
            for key in self._cache.keys(self.key_prefix):
                self._cache.delete(key)
        else:
            self._cache.clear()
        return True
