from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path


def home(request):
    return HttpResponse("I am home", content_type="text/html; charset=utf-8")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
]
