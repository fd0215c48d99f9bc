"""The shared pages, under /s/."""

from django.urls import path

from sharing import views

urlpatterns = [
    path("<str:token>", views.shared_conversation, name="shared-conversation"),
    path("<str:token>/images/<int:image_id>", views.shared_image, name="shared-image"),
]
