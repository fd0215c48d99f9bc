"""What the shared page (/s/<token>) shows of a conversation, built on the server: its title,
then the messages and generated pictures in the order they were written, as the web app
places them. User messages are plain text with their images and documents, as the app shows
them; answers are Markdown rendered safely (sharing/markdown_render.py), with their model's
name. Nothing about the owner, nor about what the chat cost, is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiapi.conversation_selectors import conversation_messages
from aiapi.models import AiModel, Conversation, Message
from sharing.markdown_render import markdown_html

# How the web app attaches a document to a message (static/app/documents.js).
_DOCUMENT = re.compile(r'^<document name="([^"\n]*)">\n([\s\S]*)\n</document>$')
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$")


@dataclass
class Document:
    name: str
    markdown: str

    @property
    def words(self) -> int:
        return len(self.markdown.split())


@dataclass
class Entry:
    kind: str  # "user", "assistant", "system" or "image"
    text: str = ""
    html: str = ""
    speaker: str = ""
    reasoning: str = ""
    error: str = ""
    images: list[str] = field(default_factory=list)  # data: URIs the user attached
    other_images: int = 0  # attached by address: not fetched from the shared page
    documents: list[Document] = field(default_factory=list)
    image_url: str = ""  # a generated picture, through the share link
    prompt: str = ""


def _parts(content) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [p for p in content or () if isinstance(p, dict)]


def _image_url(part: dict) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) else ""


def _entry(message: Message, names: dict[str, str]) -> Entry:
    texts, documents, images, other_images = [], [], [], 0
    for part in _parts(message.content):
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            document = _DOCUMENT.match(part["text"])
            if document:
                documents.append(Document(name=document[1], markdown=document[2]))
            else:
                texts.append(part["text"])
        elif part.get("type") == "image_url":
            url = _image_url(part)
            if _DATA_IMAGE.match(url):
                images.append(url)
            else:
                other_images += 1
    text = "\n".join(texts)
    if message.role == Message.Role.ASSISTANT:
        return Entry(
            kind="assistant",
            html=markdown_html(text),
            speaker=names.get(message.model, message.model) or "Assistant",
            reasoning=message.reasoning,
            error=message.error,
        )
    return Entry(
        kind=message.role,
        text=text,
        speaker="System" if message.role == Message.Role.SYSTEM else "User",
        images=images,
        other_images=other_images,
        documents=documents,
    )


def shared_entries(*, conversation: Conversation, token: str) -> list[Entry]:
    messages = list(conversation_messages(conversation=conversation))
    images = list(conversation.images.defer("data"))
    used = {m.model for m in messages if m.model} | {i.model for i in images if i.model}
    names = {
        m.public_id: m.display_name or m.public_id
        for m in AiModel.objects.filter(public_id__in=used).only("public_id", "display_name")
    }
    timeline = [(m.created_at, 0, m.pk, _entry(m, names)) for m in messages]
    for image in images:
        entry = Entry(
            kind="image",
            speaker=names.get(image.model, image.model) or "Image",
            image_url=f"/s/{token}/images/{image.pk}",
            prompt=image.prompt,
        )
        # After the messages written before it, as the web app places it.
        timeline.append((image.created_at, 1, image.pk, entry))
    timeline.sort(key=lambda row: row[:3])
    return [row[3] for row in timeline]
