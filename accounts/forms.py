"""allauth's forms where ours must differ."""

from allauth.account.forms import AddEmailForm as AllauthAddEmailForm

from accounts.services import email_change_start


class AddEmailForm(AllauthAddEmailForm):
    """The account page's "change email" takes the same path as /v1/user/email, which keeps
    the address the user signs in with until the new one is verified."""

    def save(self, request):
        return email_change_start(request=request, user=self.user, email=self.cleaned_data["email"])
