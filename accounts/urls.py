from django.urls import path

from accounts import api

urlpatterns = [
    path("user/status", api.UserStatusApi.as_view(), name="user-status"),
    path("user/usage", api.UsageApi.as_view(), name="user-usage"),
    path("user/usage.csv", api.UsageCsvApi.as_view(), name="user-usage-csv"),
    path("user/keys", api.ApiKeyListApi.as_view(), name="user-keys"),
    path("user/keys/<int:key_id>", api.ApiKeyDetailApi.as_view(), name="user-key"),
    path("user/password", api.PasswordChangeApi.as_view(), name="user-password"),
    path("user/email", api.EmailChangeApi.as_view(), name="user-email"),
    path("user/exports", api.DataExportListApi.as_view(), name="user-exports"),
    path("user/exports/<int:export_id>", api.DataExportDetailApi.as_view(), name="user-export"),
    path(
        "user/exports/<int:export_id>/download",
        api.DataExportDownloadApi.as_view(),
        name="user-export-download",
    ),
    path("user/delete", api.AccountDeleteApi.as_view(), name="user-delete"),
]
