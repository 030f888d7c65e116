from django.urls import include, path, re_path

from animomeet import views
from animomeet.admin_site import site as admin_site
from animomeet.http import not_found
from meetings.views import ice_servers

# /healthz and /readyz are answered in front of Django (animomeet.health).
urlpatterns = [
    path("", views.home),
    path("admin/", admin_site.urls),
    path("api/v1/openapi.json", views.openapi_document),
    path("api/v1/users/", include("accounts.urls")),
    path("api/v1/meeting/", include("meetings.urls")),
    path("api/v1/ice-servers", ice_servers),
    # Anything else under /api/ answers JSON too, whatever DEBUG says.
    re_path(r"^api/", not_found),
]

handler400 = "animomeet.http.bad_request"
handler404 = "animomeet.http.not_found"
handler500 = "animomeet.http.server_error"
