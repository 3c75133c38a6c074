from django.shortcuts import render
from django.urls import path

ITEMS = [{"id": i, "name": "item %d" % i, "price": i * 1.25} for i in range(10)]


def page(request):
    return render(request, "page.html", {"title": "Bench", "items": ITEMS})


urlpatterns = [path("django", page)]
