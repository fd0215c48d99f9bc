"""Static files as `make serve` serves them: hashed names, compressed copies, and ES modules
that import each other by hashed name (so a changed module is never hidden behind a cached
importer). No file is fetched at run time: the browser libraries are vendored."""

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import RequestFactory

STATIC = Path(__file__).resolve().parents[2] / "static"
IMPORT = re.compile(r"""(?:from\s*|import\s*\(?\s*)["'](\.{1,2}/[^"']+)["']""")


@pytest.fixture
def collected(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "webapp.storage.StaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    return tmp_path, json.loads((tmp_path / "staticfiles.json").read_text())["paths"]


def test_every_module_imports_the_hashed_names_of_what_it_imports(collected):
    root, manifest = collected
    modules = [name for name in manifest if name.startswith("app/") and name.endswith(".js")]
    assert "app/main.js" in modules and "app/markdown.js" in modules
    for name in modules:
        source = (root / manifest[name]).read_text()
        for target in IMPORT.findall(source):
            assert re.search(r"\.[0-9a-f]{12}\.js$", target), f"{name} imports {target} unhashed"
            assert (root / manifest[name]).parent.joinpath(target).resolve().exists()
    assert (root / (manifest["app/app.css"] + ".gz")).exists()


def test_pages_link_the_hashed_files(collected, rf: RequestFactory):
    _, manifest = collected
    request = rf.get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    page = render_to_string("webapp/landing.html", {"models": []}, request=request)
    assert f"/static/{manifest['app/app.css']}" in page
    assert f"/static/{manifest['app/theme.js']}" in page


def test_vendored_libraries_carry_their_licences():
    for library in ("marked", "dompurify", "highlight"):
        folder = STATIC / "vendor" / library
        assert (folder / "LICENSE").exists(), library
    listed = (STATIC / "vendor" / "README.md").read_text()
    assert "marked 18.2.1" in listed and "DOMPurify 3.4.18" in listed
    assert "highlight.js 11.12.0" in listed


def test_no_page_or_module_loads_anything_from_another_site():
    for path in [*STATIC.glob("app/*"), *Path(STATIC.parent, "templates").rglob("*.html")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']https?://""", text), path
        assert not re.search(r"""import\s*\(?\s*["']https?://""", text), path
