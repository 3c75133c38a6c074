"""Views of the minimal Django example.

Routes:
  GET  /            plain-text greeting
  GET  /api/info    JSON describing the request
  GET  /form        an HTML form with a CSRF token (sets the csrftoken cookie)
  POST /form        greets the submitted name; 403 without a valid CSRF token
  anything else     Django's 404
"""

import html
import os
import sys

import django
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_GET, require_http_methods


@require_GET
def index(request):
    return HttpResponse("Hello from Django!\n", content_type="text/plain; charset=utf-8")


@require_GET
def info(request):
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "path_info": request.path_info,
            "query": request.GET.dict(),
            "visits": visits,
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "django": django.get_version(),
        }
    )


FORM = """<!doctype html>
<title>Django form</title>
<form method="post" action="{action}">
  <input type="hidden" name="csrfmiddlewaretoken" value="{token}">
  <label>Your name <input name="name"></label>
  <button type="submit">Send</button>
</form>
"""


@require_http_methods(["GET", "POST"])
def form(request):
    if request.method == "GET":
        return HttpResponse(
            FORM.format(
                action=html.escape(request.get_full_path()),
                token=html.escape(get_token(request)),
            )
        )
    name = request.POST.get("name", "").strip()
    if not name:
        return HttpResponseBadRequest("the form field 'name' is required\n")
    return HttpResponse(f"<!doctype html>\n<p>Hello, {html.escape(name)}!</p>\n")
