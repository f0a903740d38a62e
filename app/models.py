"""Imports every domain's models so that Base.metadata is complete (for migrations)."""


def import_all() -> None:
    """Register all tables on Base.metadata."""
    import app.actions.models
    import app.articles.models
    import app.articles.review_models
    import app.assets.models
    import app.attachments.models
    import app.audit.models
    import app.auth.models
    import app.calls.models
    import app.contacts.models
    import app.feed.models
    import app.notifications.models
    import app.web.models
    import app.webhooks.models
    import app.workorders.models  # noqa: F401
