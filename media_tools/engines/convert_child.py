"""The conversion itself, run as a child process (`python -m media_tools.engines.convert_child`)
so a hostile or huge document meets CPU-time and address-space limits that end this process,
not the worker. Reads a JSON spec on stdin, writes its result file into the spec's output
directory, and prints one JSON line: {"ok": true, ...} or {"ok": false, "code", "message"}.
No Django here: it starts fast and touches nothing but its two paths."""

from __future__ import annotations

import json
import resource
import sys
import warnings
import zipfile
from pathlib import Path

IMAGE_TARGETS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
IMAGE_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
IMAGE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
DOCUMENT_EXTENSIONS = {
    "pdf": ".pdf",
    "docx": ".docx",
    "pptx": ".pptx",
    "xlsx": ".xlsx",
    "html": ".html",
    "csv": ".csv",
}
OFFICE = {"docx", "pptx", "xlsx"}


class ConversionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def apply_limits(spec: dict) -> None:
    cpu = int(spec["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    memory = int(spec["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))  # allocations fail past it
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def check_archive(path: Path, spec: dict) -> None:
    """A zip that unpacks to far more than it weighs is refused before anything unpacks it."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ConversionError(
            "corrupt_file", f"The document is not a readable archive ({error})."
        ) from None
    total = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries) or 1
    if total > spec["max_unpacked_bytes"] or total / packed > spec["max_compression_ratio"]:
        raise ConversionError(
            "decompression_bomb",
            f"The document would unpack to {total} bytes from {packed}: refused as a "
            "decompression bomb.",
        )


def to_markdown(path: Path, spec: dict) -> dict:
    source = spec["source_type"]
    if source in OFFICE:
        check_archive(path, spec)
    from markitdown import MarkItDown, StreamInfo

    converter = MarkItDown(enable_plugins=False)
    try:
        result = converter.convert_local(
            str(path), stream_info=StreamInfo(extension=DOCUMENT_EXTENSIONS[source])
        )
    except MemoryError:
        raise
    except Exception as error:
        if "bad_alloc" in str(error):
            raise MemoryError() from error
        raise ConversionError(
            "corrupt_file", f"The file could not be read as {source.upper()}: {_reason(error)}"
        ) from error
    text = (result.markdown or "").strip()
    out = Path(spec["output_dir"]) / "result.md"
    out.write_text(text + "\n", encoding="utf-8")
    return {"path": str(out), "content_type": "text/markdown", "extension": "md", "text": text}


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[-1] if text else type(error).__name__)[:200]


def to_image(path: Path, spec: dict) -> dict:
    from PIL import Image, ImageOps

    max_pixels = int(spec["max_pixels"])
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    target = spec["target"]
    try:
        # Opening reads the header alone: a bomb is refused, with its size, before a pixel is
        # decoded; Pillow's own check stays on for the decoding.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise ConversionError(
                    "decompression_bomb",
                    f"The image is {image.width}x{image.height} pixels, more than the "
                    f"{max_pixels} allowed: refused as a decompression bomb.",
                )
            Image.MAX_IMAGE_PIXELS = max_pixels
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image)  # keep the orientation EXIF described
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ConversionError(
            "decompression_bomb", f"Refused as a decompression bomb: {error}"
        ) from None
    except ConversionError:
        raise
    except MemoryError:
        raise
    except Exception as error:
        raise ConversionError(
            "corrupt_file", f"The image could not be decoded: {_reason(error)}"
        ) from error
    width, height = spec.get("width"), spec.get("height")
    if width or height:
        image.thumbnail((width or image.width, height or image.height), Image.Resampling.LANCZOS)
    if target == "jpeg":
        mode = "RGB"
    elif image.mode in ("RGB", "RGBA", "L", "LA"):
        mode = image.mode
    else:
        mode = "RGBA"
    image = image.convert(mode)
    # A fresh image from the pixels alone: no EXIF, no XMP, no text chunks, no profile.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = Path(spec["output_dir"]) / f"result.{IMAGE_EXTENSIONS[target]}"
    options = {"quality": 90} if target in ("jpeg", "webp") else {"optimize": True}
    clean.save(out, format=IMAGE_TARGETS[target], **options)
    return {
        "path": str(out),
        "content_type": IMAGE_CONTENT_TYPES[target],
        "extension": IMAGE_EXTENSIONS[target],
        "width": clean.width,
        "height": clean.height,
    }


def convert(spec: dict) -> dict:
    path = Path(spec["input"])
    if spec["target"] == "markdown":
        return to_markdown(path, spec)
    return to_image(path, spec)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    apply_limits(spec)
    try:
        result = {"ok": True, **convert(spec)}
    except ConversionError as error:
        result = {"ok": False, "code": error.code, "message": error.message}
    except MemoryError:
        result = {
            "ok": False,
            "code": "conversion_limit",
            "message": "The conversion needed more memory than it is allowed.",
        }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
