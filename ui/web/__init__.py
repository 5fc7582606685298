"""The web face: the FastAPI server, the HTTP API, the admin routes, the Gradio chat page,
the article pages, the widget's static files, and what guards them (security, sessions).

Routes and pages receive the runtime (app.services.Services) through the request
(``deps.py``) and fail with ``errors.ApiError``; both are leaves that import nothing back.
"""
