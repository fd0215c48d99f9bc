"""Media routes; included under both /v1/ and /api/v1/."""

from django.urls import path

from media_tools import api, openai_api

urlpatterns = [
    path("audio/transcriptions", openai_api.audio_transcriptions),
    path("audio/speech", openai_api.audio_speech),
    path("images/generations", openai_api.images_generations),
    path("media/transcriptions", api.transcriptions_create),
    path("media/images", api.images_create),
    path("media/convert", api.convert_create),
    path("media/jobs/<str:job_id>", api.job_detail),
    path("media/jobs/<str:job_id>/result", api.job_result),
    path("media/jobs/<str:job_id>/files/<int:index>", api.job_file),
    path("media/files/<str:token>", api.signed_file, name="media-signed-file"),
]
