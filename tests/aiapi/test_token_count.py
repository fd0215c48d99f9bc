"""Where a provider reports no usage we count tokens with tiktoken's real encodings, loaded from
files shipped inside an installed package: no download, ever."""

import subprocess
import sys
import textwrap
from pathlib import Path

from aiapi.token_count import (
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    count_text_tokens,
    encoding,
    estimate_prompt_tokens,
)

ROOT = Path(__file__).resolve().parents[2]

# tiktoken's own published examples and the well-known ids of "hello world".
KNOWN = {
    "cl100k_base": {
        "hello world": [15339, 1917],
        "tiktoken is great!": [83, 1609, 5963, 374, 2294, 0],
    },
    "o200k_base": {
        "hello world": [24912, 2375],
        "tiktoken is great!": [83, 8251, 2488, 382, 2212, 0],
    },
}


def test_both_encodings_give_tiktokens_known_token_ids():
    for name, examples in KNOWN.items():
        enc = encoding(name)
        assert enc is not None, name
        for text, ids in examples.items():
            assert enc.encode(text) == ids, (name, text)


def test_openai_models_count_with_their_own_encoding_and_others_with_cl100k():
    # "Bonjour le monde, ça va?" is 7 tokens in both, so use text where they differ.
    text = "tiktoken is great! " * 3
    assert count_text_tokens("hello world", model="gpt-4o-mini") == 2
    assert count_text_tokens(text, model="gpt-4o-mini") == len(encoding("o200k_base").encode(text))
    assert count_text_tokens(text, model="claude-3-5-haiku") == len(
        encoding("cl100k_base").encode(text)
    )


def test_a_prompt_counts_its_messages_and_their_framing():
    messages = [
        {"role": "system", "content": "hello world"},
        {"role": "user", "content": [{"type": "text", "text": "tiktoken is great!"}]},
    ]
    assert estimate_prompt_tokens(messages) == REPLY_PRIMING + 2 * MESSAGE_OVERHEAD + 2 + 6


def test_text_that_looks_like_a_special_token_is_counted_not_refused():
    assert count_text_tokens("<|endoftext|> is text here") == 10


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TIKTOKEN_CACHE_DIR": "/nonexistent/cache"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_counting_works_with_the_network_cut_off():
    # Any connection attempt raises, and tiktoken's own cache points nowhere: only the
    # bundled files can answer.
    out = _run(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from aiapi.token_count import count_text_tokens
        print(count_text_tokens("tiktoken is great!"), count_text_tokens("hello world", model="gpt-4o"))
        """
    )
    assert out == "6 2"


def test_without_the_bundled_files_the_byte_estimate_still_answers():
    out = _run(
        """
        import sys
        sys.modules["litellm"] = None  # as if the package were not installed
        from aiapi.token_count import count_text_tokens
        print(count_text_tokens("tiktoken is great!"))
        """
    )
    assert out.splitlines()[-1] == "5"  # 18 bytes at 4 per token


def test_a_provider_that_reports_no_usage_is_charged_by_the_real_count(sdk):
    from tests.aiapi.test_openai_sdk import wait_for_record

    question = [{"role": "user", "content": "tiktoken is great!"}]
    reply = sdk.chat.completions.with_raw_response.create(model="no-usage", messages=question)
    completion = reply.parse()

    answer = completion.choices[0].message.content
    assert completion.usage.completion_tokens == count_text_tokens(answer)
    assert completion.usage.prompt_tokens == REPLY_PRIMING + MESSAGE_OVERHEAD + 6
    record = wait_for_record(reply.headers["x-request-id"])
    assert record.tokens_estimated
    assert (record.prompt_tokens, record.completion_tokens) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )
