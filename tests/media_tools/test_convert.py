"""Files to Markdown (markitdown) and images between PNG, JPEG and WEBP (Pillow, resized, EXIF
stripped), each conversion in a child process with limits."""

import io
from decimal import Decimal

import pytest
from PIL import Image

from billing.models import UsageRecord
from media_tools.models import MediaJob
from tests.media_tools.helpers import stored_files, wait_for_job


def docx_bytes() -> bytes:
    from docx import Document

    document = Document()
    document.add_heading("Quarterly weather report", level=1)
    document.add_paragraph("Lisbon had forty sunny days and a single storm.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.cell(text="Invoice 2041 for the harbour crane rental")
    pdf.ln()
    pdf.cell(text="Total due within thirty days")
    return bytes(pdf.output())


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Stock"
    sheet.append(["Item", "Count"])
    sheet.append(["Anchors", 12])
    sheet.append(["Lanterns", 7])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def convert(http, name: str, data: bytes, **fields) -> dict:
    response = http.post("/v1/media/convert", files={"file": (name, data)}, data=fields)
    assert response.status_code == 202, response.text
    return wait_for_job(http, response.json()["id"])


def test_docx_becomes_markdown_on_a_real_worker(worker, http, media_root, dora):
    job = convert(http, "report.docx", docx_bytes())

    assert job["status"] == "succeeded", job
    assert job["input"]["type"] == "docx" and worker.job_ids == [job["id"]]
    result = http.get(f"/v1/media/jobs/{job['id']}/result").json()
    assert "# Quarterly weather report" in result["text"]
    assert "Lisbon had forty sunny days and a single storm." in result["text"]
    markdown = http.get(result["files"][0]["url"])
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.strip() == result["text"]
    # Only the result is kept; the upload is gone.
    assert [path.rsplit("/", 1)[-1] for path in stored_files(media_root)] == ["result-0.md"]
    record = UsageRecord.objects.get(request_id=MediaJob.objects.get(pk=job["id"]).request_id)
    assert record.endpoint == "media.convert" and record.units == 1 and record.status == "ok"


def test_pdf_becomes_markdown(http):
    job = convert(http, "invoice.pdf", pdf_bytes(), target="markdown")

    text = http.get(f"/v1/media/jobs/{job['id']}/result").json()["text"]
    assert "Invoice 2041 for the harbour crane rental" in text
    assert "Total due within thirty days" in text


def test_xlsx_becomes_a_markdown_table(http):
    job = convert(http, "stock.xlsx", xlsx_bytes())

    text = http.get(f"/v1/media/jobs/{job['id']}/result").json()["text"]
    assert "## Stock" in text
    assert "| Anchors | 12 |" in text and "| Lanterns | 7 |" in text


def test_html_and_csv_become_markdown(http):
    html = b"<!DOCTYPE html><html><body><h2>Menu</h2><p>Soup of the day</p></body></html>"
    csv = b"dish,price\nsoup,4\nbread,2\n"

    html_text = http.get(f"/v1/media/jobs/{convert(http, 'x', html)['id']}/result").json()["text"]
    csv_text = http.get(f"/v1/media/jobs/{convert(http, 'y', csv)['id']}/result").json()["text"]
    assert "## Menu" in html_text and "Soup of the day" in html_text
    assert "| soup | 4 |" in csv_text


def test_a_photo_is_resized_and_loses_its_exif(http, media_root):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x8298] = "Alice's secret location"  # Copyright
    photo = io.BytesIO()
    Image.new("RGB", (400, 200), (200, 30, 30)).save(photo, "JPEG", exif=exif)

    job = convert(http, "holiday.jpg", photo.getvalue(), target="png", width="100")

    assert job["status"] == "succeeded", job
    result = http.get(f"/v1/media/jobs/{job['id']}/result").json()
    assert result["data"] == {"format": "png", "width": 100, "height": 50}
    png = http.get(result["files"][0]["url"])
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG" and image.size == (100, 50)
    assert not image.getexif() and b"SpyCam" not in png.content


@pytest.mark.parametrize("target", ["jpeg", "webp"])
def test_images_convert_to_jpeg_and_webp(http, target):
    source = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 120, 255, 128)).save(source, "PNG")

    job = convert(http, "logo.png", source.getvalue(), target=target)

    file = http.get(http.get(f"/v1/media/jobs/{job['id']}/result").json()["files"][0]["url"])
    assert Image.open(io.BytesIO(file.content)).format == target.upper()


def test_a_conversion_can_be_priced(http, dora, settings):
    settings.MEDIA_CONVERT_PRICE = Decimal("0.003")

    job = convert(http, "r.docx", docx_bytes())

    assert Decimal(job["cost"]) == Decimal("0.003")
