"""allauth's adapter, where ours must differ."""

from allauth.account.adapter import DefaultAccountAdapter

from chukchat.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request):
        # Behind a reverse proxy, REMOTE_ADDR is the proxy: keyed on it, five bad sign-ins
        # by anyone would lock every user out.
        return client_ip(request)
