"""The project's own pages: the home page and the API's description."""

from django.http import HttpResponse

from animomeet import openapi
from animomeet.http import ApiResponse, api_view


@api_view("GET")
def home(request):
    return HttpResponse("I am home", content_type="text/html; charset=utf-8")


@api_view("GET")
def openapi_document(request):
    return ApiResponse(openapi.document())
