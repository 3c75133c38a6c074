"""mod_wsgi_rs.django: a Django cache backend on a shared cache.

    CACHES = {'default': {'BACKEND': 'mod_wsgi_rs.django.SharedCache',
                          'LOCATION': 'default'}}   # WSGISharedCache name

Values are pickled, except integers, which are stored as ASCII decimal
so that incr()/decr() are atomic across processes.
"""

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

import mod_wsgi_rs
from mod_wsgi_rs import _dump, _load


class SharedCache(BaseCache):
    def __init__(self, location, params):
        super().__init__(params)
        self._name = location or 'default'
        self._store = None

    @property
    def _cache(self):
        if self._store is None:
            self._store = mod_wsgi_rs.cache(self._name)
        return self._store

    def _ttl(self, timeout):
        """None: never expires; a number <= 0: already expired."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return timeout

    def _key(self, key, version):
        key = self.make_key(key, version=version)
        self.validate_key(key)
        return key

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self._key(key, version)
        ttl = self._ttl(timeout)
        if ttl is not None and ttl <= 0:
            return self._cache.get(key) is None
        return self._cache.add(key, _dump(value), ttl)

    def get(self, key, default=None, version=None):
        data = self._cache.get(self._key(key, version))
        return default if data is None else _load(data)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self._key(key, version)
        ttl = self._ttl(timeout)
        if ttl is not None and ttl <= 0:
            self._cache.delete(key)
        else:
            self._cache.set(key, _dump(value), ttl)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self._key(key, version)
        data = self._cache.get(key)
        if data is None:
            return False
        ttl = self._ttl(timeout)
        if ttl is not None and ttl <= 0:
            self._cache.delete(key)
        else:
            self._cache.set(key, data, ttl)
        return True

    def delete(self, key, version=None):
        return self._cache.delete(self._key(key, version))

    def has_key(self, key, version=None):
        return self._cache.get(self._key(key, version)) is not None

    def incr(self, key, delta=1, version=None):
        key = self._key(key, version)
        if self._cache.get(key) is None:
            raise ValueError("Key '%s' not found" % key)
        return self._cache.incr(key, delta)

    def get_many(self, keys, version=None):
        made = {self._key(k, version): k for k in keys}
        found = self._cache.get_many(list(made))
        return {made[k]: _load(v) for k, v in found.items()}

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        ttl = self._ttl(timeout)
        items = {self._key(k, version): _dump(v) for k, v in data.items()}
        if ttl is not None and ttl <= 0:
            for k in items:
                self._cache.delete(k)
        else:
            self._cache.set_many(items, ttl)
        return []

    def delete_many(self, keys, version=None):
        for key in keys:
            self.delete(key, version=version)

    def clear(self):
        prefix = self.key_prefix
        if prefix:
            for key in self._cache.keys(prefix):
                self._cache.delete(key)
        else:
            self._cache.clear()
