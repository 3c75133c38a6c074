"""A minimal real Django project (Debian's python3-django) served through the
module: CSRF-protected form POST, redirect, 404, template view, JSON, cookie
session, multipart upload, streaming -- and the same answers as under mod_wsgi 4.9.4,
in embedded and in daemon mode."""

import hashlib
import json
import os
import re

import pytest
import requests

from harness.apache import MOD_WSGI_REF, default_module, rs_module_path

SETTINGS = '''
SECRET_KEY = 'mwrs-django-test-secret'
DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
ROOT_URLCONF = 'mwrsproject.urls'
INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.sessions']
MIDDLEWARE = [
    'django.middleware.common.CommonMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
]
SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
DATABASES = {}
TEMPLATES = [{
    'BACKEND': 'django.template.backends.django.DjangoTemplates',
    'DIRS': ['@APPS@/mwrsproject/templates'],
    'OPTIONS': {'context_processors': ['django.template.context_processors.csrf']},
}]
USE_TZ = True
'''

URLS = r'''
import hashlib
from django.http import HttpResponse, JsonResponse, HttpResponseRedirect, StreamingHttpResponse, Http404
from django.shortcuts import render
from django.urls import path, reverse

def form(request):
    if request.method == 'POST':
        return HttpResponse('posted name=%s' % request.POST.get('name', ''))
    return render(request, 'form.html', {'title': 'Form'})

def hello(request, name):
    return render(request, 'hello.html', {'name': name, 'items': ['a', 'b', 'c']})

def api(request):
    if request.method == 'POST':
        import json
        return JsonResponse({'got': json.loads(request.body), 'script_name': request.META['SCRIPT_NAME']})
    return JsonResponse({'path': request.path, 'path_info': request.path_info, 'q': request.GET.get('q')})

def go(request):
    return HttpResponseRedirect(reverse('hello', args=['redirected']))

def missing(request):
    raise Http404('nope')

def session_set(request, value):
    request.session['v'] = value
    return HttpResponse('set')

def session_get(request):
    return JsonResponse({'v': request.session.get('v')})

def upload(request):
    f = request.FILES['file']
    data = f.read()
    return JsonResponse({'name': f.name, 'size': len(data), 'sha': hashlib.sha256(data).hexdigest()})

def stream(request):
    return StreamingHttpResponse(('row %d\n' % i for i in range(40)), content_type='text/plain')

urlpatterns = [
    path('form/', form, name='form'),
    path('hello/<str:name>/', hello, name='hello'),
    path('api/', api),
    path('go/', go),
    path('gone/', missing),
    path('session/set/<str:value>/', session_set),
    path('session/get/', session_get),
    path('upload/', upload),
    path('stream/', stream),
]
'''

FORM_HTML = """<html><body><h1>{{ title }}</h1>
<form method="post">{% csrf_token %}<input name="name"></form></body></html>
"""
HELLO_HTML = """<p>Hello {{ name }}!</p><ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>
"""

WSGI = """
import os, sys
sys.path.insert(0, '@APPS@')
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mwrsproject.settings')
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
"""

CONF = "WSGIScriptAlias /dj @APPS@/django.wsgi\n"


def make(make_apache, module):
    return make_apache(
        CONF,
        module=module,
        name="django-" + module,
        apps={
            "mwrsproject/__init__.py": "",
            "mwrsproject/settings.py": SETTINGS,
            "mwrsproject/urls.py": URLS,
            "mwrsproject/templates/form.html": FORM_HTML,
            "mwrsproject/templates/hello.html": HELLO_HTML,
            "django.wsgi": WSGI,
        },
    )


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    return make(make_mode_apache, default_module())


UPLOAD = os.urandom(200000)
TOKEN_RX = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def scenario(ap):
    s = requests.Session()
    u = ap.url
    out = []

    def rec(name, r, headers=()):
        body = TOKEN_RX.sub(b'name="csrfmiddlewaretoken" value="TOKEN"', r.content)
        out.append((name, r.status_code, body, tuple(r.headers.get(h) for h in headers)))
        return r

    r = rec("form-get", s.get(u("/dj/form/"), timeout=10), ("Content-Type",))
    m = TOKEN_RX.search(r.content)
    token = m.group(1).decode() if m else ""
    rec("csrf-ok", s.post(u("/dj/form/"), data={"csrfmiddlewaretoken": token, "name": "Zo\u00eb"}, timeout=10))
    bare = requests.Session()
    rec("csrf-missing", bare.post(u("/dj/form/"), data={"name": "x"}, timeout=10))
    bare.close()
    rec("template", s.get(u("/dj/hello/world/"), timeout=10))
    rec("api-get", s.get(u("/dj/api/?q=1"), timeout=10), ("Content-Type",))
    rec(
        "api-post",
        s.post(u("/dj/api/"), json={"x": 1}, headers={"X-CSRFToken": token}, timeout=10),
    )
    rec("redirect", s.get(u("/dj/go/"), allow_redirects=False, timeout=10), ("Location",))
    rec("redirect-follow", s.get(u("/dj/go/"), timeout=10))
    rec("append-slash", s.get(u("/dj/api"), allow_redirects=False, timeout=10), ("Location",))
    rec("404", s.get(u("/dj/gone/"), timeout=10))
    rec("404-nourl", s.get(u("/dj/nothing/here/"), timeout=10))
    rec("session-set", s.get(u("/dj/session/set/xyz/"), timeout=10))
    rec("session-get", s.get(u("/dj/session/get/"), timeout=10))
    rec(
        "upload",
        s.post(
            u("/dj/upload/"),
            files={"file": ("d.bin", UPLOAD, "application/octet-stream")},
            data={"csrfmiddlewaretoken": token},
            timeout=30,
        ),
    )
    rec("stream", s.get(u("/dj/stream/"), timeout=10))
    s.close()
    return out


def test_django_behaviour(ap):
    res = {name: (st, body, h) for name, st, body, h in scenario(ap)}
    assert res["form-get"][0] == 200
    assert res["form-get"][2][0].startswith("text/html")
    assert b"<h1>Form</h1>" in res["form-get"][1]
    assert b'value="TOKEN"' in res["form-get"][1]
    assert res["csrf-ok"][:2] == (200, "posted name=Zo\u00eb".encode("utf-8"))
    assert res["csrf-missing"][0] == 403
    assert res["template"][:2] == (200, b"<p>Hello world!</p><ul><li>a</li><li>b</li><li>c</li></ul>\n")
    assert json.loads(res["api-get"][1]) == {"path": "/dj/api/", "path_info": "/api/", "q": "1"}
    assert res["api-post"][0] == 200, res["api-post"]
    assert json.loads(res["api-post"][1]) == {"got": {"x": 1}, "script_name": "/dj"}
    assert res["redirect"][0] == 302
    assert res["redirect"][2] == ("/dj/hello/redirected/",)
    assert b"Hello redirected!" in res["redirect-follow"][1]
    assert res["append-slash"][0] == 301
    assert res["append-slash"][2][0].endswith("/dj/api/")
    assert res["404"][0] == 404
    assert res["404-nourl"][0] == 404
    assert res["session-set"][:2] == (200, b"set")
    assert json.loads(res["session-get"][1]) == {"v": "xyz"}
    assert res["upload"][0] == 200, res["upload"]
    assert json.loads(res["upload"][1]) == {
        "name": "d.bin",
        "size": len(UPLOAD),
        "sha": hashlib.sha256(UPLOAD).hexdigest(),
    }
    assert res["stream"][:2] == (200, "".join("row %d\n" % i for i in range(40)).encode())


def test_django_same_as_mod_wsgi(make_mode_apache, ap):
    if ap.module == "mod_wsgi":
        pytest.skip("comparison needs mod_wsgi_rs: suite runs against mod_wsgi (MWRS_TEST_MODULE)")
    if not os.path.exists(MOD_WSGI_REF) or not os.path.exists(rs_module_path()):
        pytest.fail("both modules are needed for the comparison")
    ref = make(make_mode_apache, "mod_wsgi")  # in the same mode as ap
    ours = scenario(ap)
    theirs = scenario(ref)
    assert [x[0] for x in ours] == [x[0] for x in theirs]
    diffs = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert not diffs, "\n".join(
        "%r\n  vs mod_wsgi %r" % (a[:2] + (a[2][:300], a[3]), b[:2] + (b[2][:300], b[3])) for a, b in diffs
    )
