from django import template

from apps.common.dashboard import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/agency_dashboard.html")
def agency_dashboard() -> dict:
    return dashboard_context()
