from django.urls import path

from meetings import views

urlpatterns = [
    path("check-code/<str:code>", views.check_code),
    path("create-meet/<str:code>", views.create_meet),
    path("check-meet/<str:code>", views.check_meet),
    path("check-host", views.check_host),
    path("prev-meets/<str:username>", views.prev_meets),
    path("<str:code>", views.change_meeting),
]
