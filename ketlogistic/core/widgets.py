"""Choice widgets rendered in Python. Django renders every option of a select or a checkbox list through a
template include; on a list page with eighty cities and fourteen statuses that costs more than the page's
queries. These produce the same HTML (names, ids, values, `selected`/`checked`) straight from the choices."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


def _options(widget_context) -> list[dict]:
    return [option for _group, options, _index in widget_context["optgroups"] for option in options]


class FastSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (
                    "" if option["value"] is None else option["value"],
                    mark_safe(" selected") if option["selected"] else "",
                    option["label"],
                )
                for option in _options(widget)
            ),
        )
        return format_html(
            '<select name="{}"{}>{}</select>', widget["name"], flatatt(widget["attrs"]), options
        )


class FastCheckboxSelectMultiple(forms.CheckboxSelectMultiple):
    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        return format_html_join(
            "",
            '<label class="checkbox-label"><input type="checkbox" name="{}" value="{}"{}{}> {}</label>',
            (
                (
                    widget["name"],
                    option["value"],
                    flatatt({"id": option["attrs"].get("id")}) if option["attrs"].get("id") else "",
                    mark_safe(" checked") if option["selected"] else "",
                    option["label"],
                )
                for option in _options(widget)
            ),
        )
