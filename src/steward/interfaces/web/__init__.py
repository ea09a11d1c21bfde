"""`steward ui`: the operator's web desk (Starlette, server-rendered Jinja2, no CDN, no inline script).

app.py builds the application (routes in pages.py, decisions in decide.py), security.py keeps the
doors (Host allow-list, Origin check, session cookie, CSRF, security headers), metrics.py is
/metrics, cli.py the command. Every decision is `steward.app.actions.approve/reject`.
"""
