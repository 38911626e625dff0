"""`selfinstruct review RUN`: a local page to label a run's tasks by hand (server.py serves it,
page.py is the page, store.py keeps the labels in the run's labels file: RunDir.review_labels)."""

from .server import make_server, review_tasks, serve_review

__all__ = ["make_server", "review_tasks", "serve_review"]
