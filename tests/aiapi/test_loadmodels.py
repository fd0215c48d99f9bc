"""`manage.py loadmodels FILE.toml`: upserts providers and models; a bad file changes nothing."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aiapi.models import AiModel, Provider

pytestmark = pytest.mark.django_db

GOOD = """
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key = "sk-upstream-secret"

[[providers]]
name = "local"
kind = "openai_compatible"
base_url = "http://127.0.0.1:11434/v1"
api_key_env = "LOCAL_KEY"

[[models]]
id = "gpt-4o-mini"
provider = "openai"
upstream = "gpt-4o-mini"
kind = "chat"
vision = true
reasoning = false
context_window = 128000
max_output_tokens = 16384
input_price = 0.15
output_price = 0.60
active = true
fallbacks = ["llama"]

[[models]]
id = "llama"
provider = "local"
upstream = "llama3.1:8b"
"""


def load(tmp_path, text: str) -> str:
    path = tmp_path / "catalogue.toml"
    path.write_text(text)
    out = StringIO()
    call_command("loadmodels", str(path), stdout=out)
    return out.getvalue()


def test_loads_providers_and_models(tmp_path):
    output = load(tmp_path, GOOD)

    assert "models 2 created" in output
    model = AiModel.objects.get(public_id="gpt-4o-mini")
    assert model.provider.name == "openai"
    assert model.vision and not model.reasoning
    assert model.input_price == Decimal("0.15") and model.output_price == Decimal("0.60")
    assert model.fallbacks == ["llama"]
    assert AiModel.objects.get(public_id="llama").upstream == "llama3.1:8b"


def test_provider_keys_are_encrypted_at_rest(tmp_path, monkeypatch):
    load(tmp_path, GOOD)
    openai = Provider.objects.get(name="openai")
    assert "sk-upstream-secret" not in openai.api_key_encrypted
    assert openai.get_api_key() == "sk-upstream-secret"
    monkeypatch.setenv("LOCAL_KEY", "from-env")
    assert Provider.objects.get(name="local").get_api_key() == "from-env"


def test_loading_again_updates_in_place(tmp_path):
    load(tmp_path, GOOD)
    output = load(tmp_path, GOOD.replace("input_price = 0.15", "input_price = 0.2"))
    assert "models 0 created, 2 updated" in output
    assert AiModel.objects.count() == 2
    assert AiModel.objects.get(public_id="gpt-4o-mini").input_price == Decimal("0.2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kind = "chat"', 'kind = "video"'), "models[0] (id 'gpt-4o-mini'): field 'kind'"),
        (("input_price = 0.15", "input_price = -1"), "field 'input_price' must be zero or more"),
        (("context_window = 128000", "context_window = 0"), "field 'context_window'"),
        (('fallbacks = ["llama"]', 'fallbacks = ["nope"]'), "unknown model 'nope'"),
        (('provider = "local"', 'provider = "ghost"'), "unknown provider 'ghost'"),
        (('base_url = "http://127.0.0.1:11434/v1"\n', ""), "providers[1] (name 'local')"),
        (("vision = true", "vision = 1"), "field 'vision' must be true or false"),
        (("reasoning = false", "reasonning = false"), "unknown field 'reasonning'"),
        (('[[models]]\nid = "llama"', '[[models]]\nid = "gpt-4o-mini"'), "duplicate id"),
        (('id = "gpt-4o-mini"', "id = "), "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_entry_and_field_and_changes_nothing(tmp_path, change, message):
    load(tmp_path, GOOD)
    before = list(AiModel.objects.values()), list(Provider.objects.values())
    bad = GOOD.replace(*change).replace("input_price = 0.15", "input_price = 0.5", 1)
    if change[0] == "input_price = 0.15":
        bad = GOOD.replace(*change)

    with pytest.raises(CommandError) as excinfo:
        load(tmp_path, bad)

    assert message in str(excinfo.value)
    assert "Nothing was changed" in str(excinfo.value)
    assert (list(AiModel.objects.values()), list(Provider.objects.values())) == before


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("loadmodels", str(tmp_path / "missing.toml"))


def test_the_default_catalogue_loads(settings):
    call_command("loadmodels", settings.MODEL_CATALOGUE_FILE, stdout=StringIO())
    assert AiModel.objects.filter(public_id="haiku", active=True).exists()
    assert AiModel.objects.filter(provider__kind="demo").exists()
