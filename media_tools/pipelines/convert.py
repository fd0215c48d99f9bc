"""A document to Markdown, or an image to PNG/JPEG/WEBP, in a limited child process."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from media_tools.engines.convert import convert_file
from media_tools.jobs import Outcome, StoredFile
from media_tools.models import MediaJob
from media_tools.pipelines.common import Progress
from media_tools.sniff import ALL
from media_tools.storage import read_file, store_result


def run_convert(job: MediaJob, progress: Progress, stored: list[str]) -> Outcome:
    params = job.params
    with tempfile.TemporaryDirectory(prefix="chuk-convert-") as folder:
        workdir = Path(folder)
        source = workdir / f"input.{ALL[job.input_type].extension}"
        source.write_bytes(read_file(job.input_file))
        progress(10)
        converted = convert_file(
            source=source,
            source_type=job.input_type,
            target=params["target"],
            workdir=workdir,
            width=params.get("width"),
            height=params.get("height"),
        )
    progress(90)
    name = store_result(job=job, index=0, data=converted.data, extension=converted.extension)
    stored.append(name)
    data = {"format": params["target"]}
    if converted.width:
        data.update(width=converted.width, height=converted.height)
    return Outcome(
        text=converted.text or "",
        data=data,
        files=[
            StoredFile(name=name, content_type=converted.content_type, bytes=len(converted.data))
        ],
        units=Decimal(1),
    )
