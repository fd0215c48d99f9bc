from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from chukchat.encryption import decrypt_text, encrypt_text


class Provider(models.Model):
    """An upstream AI service and how to reach it."""

    class Kind(models.TextChoices):
        OPENAI = "openai"
        OPENAI_COMPATIBLE = "openai_compatible"
        ANTHROPIC = "anthropic"
        GOOGLE = "google"
        DEMO = "demo"
        LOCAL = "local"  # engines on our own machines (offline transcription and speech)

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    base_url = models.URLField(max_length=500, blank=True)
    # Encrypted at rest; write through `set_api_key`, never shown back.
    api_key_encrypted = models.TextField(blank=True, editable=False)
    # Read at call time when no key is stored (lets operators keep keys in the environment).
    api_key_env = models.CharField(max_length=100, blank=True)
    connect_timeout = models.FloatField(null=True, blank=True)
    first_token_timeout = models.FloatField(null=True, blank=True)
    total_timeout = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = encrypt_text(plaintext)

    def get_api_key(self) -> str:
        import os

        if self.api_key_encrypted:
            return decrypt_text(self.api_key_encrypted)
        if self.api_key_env:
            return os.environ.get(self.api_key_env, "")
        return ""


class AiModel(models.Model):
    """A model as clients name it, mapped to a provider and the provider's own name for it."""

    class Kind(models.TextChoices):
        CHAT = "chat"
        EMBEDDING = "embedding"
        IMAGE = "image"
        TRANSCRIPTION = "transcription"
        SPEECH = "speech"  # text to speech: input_price is USD per million input characters

    public_id = models.CharField(max_length=128, unique=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    upstream = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHAT)
    display_name = models.CharField(max_length=128, blank=True)
    vision = models.BooleanField(default=False)
    reasoning = models.BooleanField(default=False)
    context_window = models.PositiveIntegerField(default=8192)
    max_output_tokens = models.PositiveIntegerField(default=4096)
    # USD per million tokens (per million characters of input for speech models); per image
    # and per audio minute for those media models.
    input_price = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    output_price = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    image_price = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    audio_minute_price = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    # Prompt caching: input tokens read from the provider's cache, and written to it (USD per
    # million); unset, they cost the input price.
    cache_read_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    active = models.BooleanField(default=True)
    # Only users on a plan that includes premium models may use it.
    pro_only = models.BooleanField(default=False)
    # Public ids of other models tried in order when this one's provider fails before answering.
    fallbacks = models.JSONField(default=list, blank=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "public_id"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.public_id


class Conversation(models.Model):
    """A saved chat: the web app's chats, and API calls that name a conversation_id."""

    owner = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    title_locked = models.BooleanField(default=False)  # the owner named it: keep their title
    model = models.CharField(max_length=128, blank=True)  # public id last used
    # The chat's own instructions, sent as the system message of every turn that carries
    # none (aiapi/chat_settings.py); its temperature and max tokens, which the web app sends
    # with each message. Set from a preset, or edited, by the owner (PATCH).
    system_prompt = models.TextField(blank=True, default="")
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Preset(models.Model):
    """A named way to start a chat, owned by one user: a model, a system prompt, and
    optionally a temperature and max tokens (Open WebUI's "models", LibreChat's presets)."""

    owner = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="presets")
    name = models.CharField(max_length=100)
    model = models.CharField(max_length=128)  # public id
    system_prompt = models.TextField(blank=True, default="")
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # One name per owner, whatever its case: "Tutor" and "tutor" are the same preset.
            models.UniqueConstraint(
                "owner", Lower("name"), name="aiapi_preset_name_unique_per_owner"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.JSONField()  # a string, or OpenAI-style content parts
    reasoning = models.TextField(blank=True)
    model = models.CharField(max_length=128, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=Decimal("0"))
    finish_reason = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {str(self.content)[:40]}"


class ConversationImage(models.Model):
    """A picture generated in a chat, kept as part of the conversation: its bytes are in this
    row, so it lives exactly as long as the conversation (deleted with it, and so with the
    account), not as long as the media job's result files."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="images")
    # The job it came from: saved once per job, however often the page asks.
    job_id = models.UUIDField(unique=True)
    prompt = models.TextField()
    model = models.CharField(max_length=128, blank=True)
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=Decimal("0"))
    content_type = models.CharField(max_length=64)
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"image in {self.conversation_id}: {self.prompt[:40]}"


class StoredResponse(models.Model):
    """A Responses API answer kept (`store`, the default) so that its owner can fetch it,
    list its input items, delete it, or continue from it with `previous_response_id`."""

    id = models.CharField(max_length=64, primary_key=True)  # resp_<request id>
    owner = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="stored_responses"
    )
    model = models.CharField(max_length=128)
    previous_response_id = models.CharField(max_length=64, blank=True)
    # The conversation before this response, as chat messages (without instructions, which
    # are not carried over): what a response continuing this one is sent before its output.
    context = models.JSONField(default=list)
    input_items = models.JSONField(default=list)  # this request's input, as items with ids
    response = models.JSONField()  # the response object as it was returned
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return self.id
