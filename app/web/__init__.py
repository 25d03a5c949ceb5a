"""The marketer's dashboard: session and CSRF helpers, view-model builders and server-side SVG charts.

Routes in `app/api/routes/dashboard.py` stay thin: they parse the request, call a builder here and
render a template from `templates/dashboard/`.
"""
