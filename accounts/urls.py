from django.urls import path

from accounts import api

urlpatterns = [
    path("user/status", api.UserStatusApi.as_view(), name="user-status"),
]
