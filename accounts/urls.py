from django.urls import path

from accounts import views

urlpatterns = [
    path("signup", views.signup),
    path("login", views.login),
    path("verify-user", views.verify_user),
    path("logout", views.logout),
]
