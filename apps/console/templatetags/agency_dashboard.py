from django import template

from apps.console.selectors import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/agency_dashboard.html")
def agency_dashboard() -> dict:
    return dashboard_context()
