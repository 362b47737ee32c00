"""The HTTP surface: ZEGO-compatible signed actions and the plain routes beside them.

app.py (factory, lifespan) · dispatch.py (the action endpoint: signature, rate limit, envelope) ·
signature.py · ratelimit.py · errors.py (codes) · schema.py (request models, `@action`) ·
actions/ (one module per action group) · live.py (live tasks) · tasks.py (a task's life on the
API side) · drives.py (adding drives) · events.py (runtime events → rows and callbacks) ·
callbacks.py · fetch.py (safe URL fetching) · scene.py · builds.py / builtin.py (avatars) ·
routes.py / docs.py / previews.py (files, previews, API docs) · services.py · credentials.py.
"""
