from . import access
from .models import Notice
from .navigation import menu_for
from .prompts import prompts_for
from .second_factor import pending_step


def menu(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"menu": [], "second_factor_pending": False}
    if pending_step(request):  # the code (or the enrolment) first: nothing of the work shows until then
        return {"menu": [], "second_factor_pending": True}
    notices, prompts = [], []
    if access.is_partner_actor(user):
        notices = list(Notice.objects.filter(partner_id=user.partner_id, dismissed_at__isnull=True)[:5])
        prompts = prompts_for(user)
    return {
        "menu": menu_for(user, request.path),
        "notices": notices,
        "prompts": prompts,
        "second_factor_pending": False,
    }
