"""The web app's money formatting (static/app/money.js), run by node: the API's decimal strings
become "$0.00000014", "$2,000", "$9.99", never "1.4e-7" and never through a float."""

import shutil
import subprocess
from pathlib import Path

import pytest

SPEC = Path(__file__).parent / "js" / "money.test.mjs"


def test_money_js_formats_decimal_strings_without_exponents():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the web app's JavaScript unit tests need it")
    result = subprocess.run([node, str(SPEC)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
