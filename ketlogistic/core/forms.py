from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import lockout


def errors_to_messages(request, error) -> None:
    """Every message of an error, to show on the next page (`messages.error`): a bound form's errors (each after its
    field's label), a ValidationError's messages, or another error's message (an ApplicationError's, a
    TransitionError's). The one way views turn errors into messages."""
    if isinstance(error, forms.BaseForm):
        for name, errors in error.errors.items():
            label = error.fields[name].label if name in error.fields else ""
            for message in errors:
                messages.error(request, f"{label}: {message}" if label else message)
    elif isinstance(error, ValidationError):
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.error(request, str(getattr(error, "message", error)))


def errors_to_form(form: forms.BaseForm, error: ValidationError) -> None:
    """A service's ValidationError onto the form that asked: each message under its field, or the form's own
    when the form has no field of that name (or the error names none)."""
    named = error.message_dict.items() if hasattr(error, "error_dict") else [(None, error.messages)]
    for name, errors in named:
        for message in errors:
            form.add_error(name if name in form.fields else None, message)


@dataclass(frozen=True)
class SummaryError:
    """One line of the error summary: the message, and the id of the control it is about ("" for the form's own)."""

    field_id: str
    text: str


def errors_to_summary(*, form=None, formset=None) -> list[SummaryError]:
    """Every error of a bound form and of its formset of lines, field by field in the page's order: the summary a
    page leads with after a failed submit (templates/includes/error_summary.html), each a link to its control."""
    found = []
    if isinstance(form, forms.BaseForm) and form.is_bound:
        found += _summary_of(form)
    if isinstance(formset, forms.BaseFormSet) and formset.is_bound:
        found += [SummaryError("", str(message)) for message in formset.non_form_errors()]
        for line, item in enumerate(formset.forms, start=1):
            found += _summary_of(item, line=line)
    return found


def _summary_of(form: forms.BaseForm, *, line: int | None = None) -> list[SummaryError]:
    found = [SummaryError("", str(message)) for message in form.non_field_errors()]
    for field in form:
        label = (
            field.label
            if line is None
            else _("%(label)s, line %(line)s") % {"label": field.label, "line": line}
        )
        # a group of choices (radio buttons) has no id of its own: its first choice's
        target = "" if field.is_hidden else field.id_for_label or (field.auto_id and f"{field.auto_id}_0")
        found += [SummaryError(target, f"{label}: {message}") for message in field.errors]
    return found


class LockoutAuthenticationForm(AuthenticationForm):
    """The login form, refusing an account name that failed too often until its cool-off ends."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed attempts. Login is locked until %(until)s; try again later."),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        until = lockout.locked_until(username)
        if until:
            raise forms.ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"until": timezone.localtime(until).strftime("%H:%M")},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            until = lockout.login_failed(username)
            if until:
                raise forms.ValidationError(
                    self.error_messages["locked"],
                    code="locked",
                    params={"until": timezone.localtime(until).strftime("%H:%M")},
                ) from None
            raise
        lockout.login_succeeded(username)
        return cleaned


class LockoutAdminAuthenticationForm(LockoutAuthenticationForm, AdminAuthenticationForm):
    """The Django admin's login under the same lockout (otherwise a second door for guessing passwords)."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked": LockoutAuthenticationForm.error_messages["locked"],
    }


class PartnerUserForm(forms.Form):
    username = forms.RegexField(
        label=_("Login"),
        max_length=150,
        regex=r"^[\w.@+-]+$",
        error_messages={"invalid": _("Letters, digits and @ . + - _ only.")},
    )
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, min_length=10)
    is_admin = forms.BooleanField(
        label=_("May manage the team"),
        required=False,
        help_text=_("Administrators create and deactivate their colleagues' logins."),
    )


class SecondFactorCodeForm(forms.Form):
    """A code of the authenticator app (six digits) or a recovery code (XXXX-XXXX-XXXX)."""

    code = forms.CharField(
        label=_("Code"),
        max_length=20,
        help_text=_("The six digits your authenticator app shows now, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class EnrolmentCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the app"),
        max_length=10,
        help_text=_("The six digits the app shows for KetLogistic now."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class SecondFactorResetForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        min_length=10,
        max_length=1000,
        help_text=_(
            "Why the login needs a new second factor (a lost or replaced phone, …). Kept in the audit log."
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
