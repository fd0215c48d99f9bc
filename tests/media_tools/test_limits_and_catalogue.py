"""Plans set the media limits; the catalogue knows what the local and demo providers offer."""

import pytest

from aiapi.catalogue import CatalogueError, catalogue_load
from media_tools.limits import media_limits, plan_slug_for_user
from media_tools.models import MediaJob


def test_each_plan_has_its_own_limits_and_unknown_plans_get_the_default():
    free, pro = media_limits(plan_slug="free"), media_limits(plan_slug="pro")

    assert pro.max_upload_bytes > free.max_upload_bytes
    assert pro.max_audio_seconds > free.max_audio_seconds
    assert pro.max_images > free.max_images
    assert media_limits(plan_slug="enterprise-trial") == free


def test_a_user_has_the_limits_of_the_plan_they_subscribe_to(alice):
    from billing.entitlements import entitlements_changed
    from billing.models import Plan, Subscription

    assert plan_slug_for_user(user_id=alice.pk) == "free"
    pro, _ = Plan.objects.get_or_create(slug="pro", defaults={"name": "Pro"})
    Subscription.objects.create(user=alice, stripe_id="sub_alice", plan=pro, status="active")
    entitlements_changed(alice.pk)
    assert plan_slug_for_user(user_id=alice.pk) == "pro"


def test_each_job_kind_has_a_rate_limit_category():
    assert MediaJob.CATEGORIES == {
        "transcription": "transcription",
        "image": "image",
        "convert": "convert",
    }


def test_a_local_provider_serves_transcription_only(db):
    with pytest.raises(CatalogueError, match=r"models\[0\] \(id 'offline-chat'\): field 'kind'"):
        catalogue_load(
            text="""
            [[providers]]
            name = "local"
            kind = "local"

            [[models]]
            id = "offline-chat"
            provider = "local"
            """
        )


def test_the_default_catalogue_has_offline_media_models_as_fallbacks(db, settings):
    from aiapi.catalogue import catalogue_load_file
    from aiapi.models import AiModel

    catalogue_load_file(path=settings.MODEL_CATALOGUE_FILE)

    whisper = AiModel.objects.get(public_id="whisper-1")
    dalle = AiModel.objects.get(public_id="dall-e-3")
    assert whisper.fallbacks == ["local-transcription"] and whisper.kind == "transcription"
    assert dalle.fallbacks == ["demo-image"] and dalle.kind == "image"
    assert AiModel.objects.get(public_id="local-transcription").provider.kind == "local"
