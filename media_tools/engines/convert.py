"""File conversion (documents to Markdown with markitdown; PNG/JPEG/WEBP with Pillow, resized
and stripped of EXIF), run in a child process under CPU-time, memory and wall-clock limits."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from media_tools.errors import MediaError

logger = logging.getLogger(__name__)

DOCUMENT_TARGETS = ("markdown",)
IMAGE_TARGETS = ("png", "jpeg", "webp")
# How running out of address space shows in a child's last words (Python, C++, OpenBLAS).
MEMORY_FAILURES = ("MemoryError", "bad_alloc", "Memory allocation", "Cannot allocate memory")
# Variables the child may see: no secrets, one thread per numeric library.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR")


@dataclass(frozen=True, slots=True)
class Converted:
    data: bytes
    content_type: str
    extension: str
    text: str | None = None  # Markdown results, also as text
    width: int | None = None
    height: int | None = None


def _child_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env.update(
        PYTHONPATH=str(settings.BASE_DIR),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def convert_file(
    *,
    source: Path,
    source_type: str,
    target: str,
    workdir: Path,
    width: int | None = None,
    height: int | None = None,
) -> Converted:
    spec = {
        "input": str(source),
        "source_type": source_type,
        "target": target,
        "output_dir": str(workdir),
        "width": width,
        "height": height,
        "max_pixels": settings.MEDIA_MAX_IMAGE_PIXELS,
        "max_unpacked_bytes": settings.MEDIA_MAX_UNPACKED_BYTES,
        "max_compression_ratio": settings.MEDIA_MAX_COMPRESSION_RATIO,
        "cpu_seconds": settings.MEDIA_CONVERT_CPU_SECONDS,
        "memory_bytes": settings.MEDIA_CONVERT_MEMORY_BYTES,
    }
    wall = settings.MEDIA_CONVERT_WALL_SECONDS
    try:
        child = subprocess.run(
            [sys.executable, "-m", "media_tools.engines.convert_child"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=wall,
            cwd=workdir,
            env=_child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MediaError(
            "conversion_limit", f"The conversion took longer than {wall:g} seconds and was stopped."
        ) from None
    lines = child.stdout.strip().splitlines()
    if child.returncode != 0 or not lines:
        logger.info("conversion child ended %s: %s", child.returncode, child.stderr[-2000:])
        if child.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise MediaError(
                "conversion_limit",
                f"The conversion used more than {settings.MEDIA_CONVERT_CPU_SECONDS} seconds "
                "of CPU time and was stopped.",
            )
        if any(sign in child.stderr for sign in MEMORY_FAILURES):
            raise MediaError(
                "conversion_limit", "The conversion needed more memory than it is allowed."
            )
        raise MediaError("conversion_failed", "The conversion failed.")
    result = json.loads(lines[-1])
    if not result["ok"]:
        raise MediaError(result["code"], result["message"])
    data = Path(result["path"]).read_bytes()
    return Converted(
        data=data,
        content_type=result["content_type"],
        extension=result["extension"],
        text=result.get("text"),
        width=result.get("width"),
        height=result.get("height"),
    )
