from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person. The email address is the login; there is no username."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


# The rate limits a plan sets and an API key may override: for each category, the field of its
# requests per minute and (chat only) of its tokens per minute.
RATE_LIMIT_FIELDS = {
    "chat": ("chat_requests_per_minute", "chat_tokens_per_minute"),
    "transcription": ("transcription_requests_per_minute", None),
    "image": ("image_requests_per_minute", None),
    "convert": ("convert_requests_per_minute", None),
    "api": ("api_requests_per_minute", None),
}


class ApiKey(models.Model):
    """A developer's key. Only the SHA-256 of the secret is kept; the plaintext is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=24, db_index=True, editable=False)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    # Optional cap on what this key may spend per calendar month (USD); null means no cap.
    monthly_spend_limit = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Rate limits of this key alone; empty means the owner's plan decides.
    chat_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    chat_tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    transcription_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    image_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    convert_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    api_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # Public model ids this key may use; empty means every model the owner's plan has
    # (accounts/model_allow_list.py).
    allowed_models = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_usable(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > timezone.now())


def _export_path(instance: "DataExport", filename: str) -> str:
    return f"exports/{instance.user_id}/{filename}"


class DataExport(models.Model):
    """A JSON archive of everything we hold about a user, built by a Celery job, downloadable
    once and until it expires."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        DOWNLOADED = "downloaded"
        EXPIRED = "expired"
        FAILED = "failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(upload_to=_export_path, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.user_id} ({self.status})"


class UserSession(AbstractBaseSession):
    """A session, with the user it signs in stored beside its data (accounts/sessions.py), so
    the sessions of one user are found by an index instead of by decoding every session."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )

    class Meta:
        db_table = "accounts_session"


class AccountEmailAddress(EmailAddress):
    """allauth's email addresses, shown in admin under Accounts with the users and keys (as
    allauth's own model they had a second "Accounts" section to themselves)."""

    class Meta:
        proxy = True
        verbose_name = "email address"
        verbose_name_plural = "email addresses"
