"""The session engine (SESSION_ENGINE = "accounts.sessions"): Django's database sessions,
each row also naming the user it signs in, kept up to date on every save."""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

from accounts.models import UserSession


def _user_id(data: dict) -> int | None:
    value = data.get("_auth_user_id")
    return int(value) if value is not None and str(value).isdigit() else None


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        return UserSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        session.user_id = _user_id(data)
        return session

    async def acreate_model_instance(self, data):
        session = await super().acreate_model_instance(data)
        session.user_id = _user_id(data)
        return session
