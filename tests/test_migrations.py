from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import Base, make_engine, migrate
from app.models import import_all


def test_migrations_match_the_models(database_url: str) -> None:
    import_all()
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_migrate_head_revision_matches_the_scripts() -> None:
    from alembic.script import ScriptDirectory

    from app.db import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


def test_migrate_database_behind_head_is_upgraded(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from app.db import HEAD_REVISION, alembic_config, current_revision

    engine = make_engine(database_url)
    migrate(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert current_revision(engine) == "0005"
    assert "reported_as" not in {c["name"] for c in inspect(engine).get_columns("articles")}
    migrate(engine)
    assert current_revision(engine) == HEAD_REVISION
    assert "reported_as" in {c["name"] for c in inspect(engine).get_columns("articles")}
    engine.dispose()


def test_upgrade_keeps_people_that_keys_refer_to(database_url: str) -> None:
    """A database in use (people with keys) takes the licences' migration; everyone who
    could publish keeps doing so."""
    from alembic import command
    from sqlalchemy import text

    from app.db import HEAD_REVISION, alembic_config, current_revision

    engine = make_engine(database_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0015")
    with engine.begin() as conn:
        for person, roles in ((1, '["engineer"]'), (2, '["dispatcher"]')):
            conn.execute(
                text(
                    "INSERT INTO people (id, name, roles, active, created_at) "
                    "VALUES (:id, :name, :roles, true, CURRENT_TIMESTAMP)"
                ),
                {"id": person, "name": f"P{person}", "roles": roles},
            )
            conn.execute(
                text(
                    "INSERT INTO api_keys (prefix, key_hash, name, person_id, created_at) "
                    "VALUES (:prefix, 'h', 'k', :id, CURRENT_TIMESTAMP)"
                ),
                {"prefix": f"p{person}", "id": person},
            )
    migrate(engine)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        licences = dict(conn.execute(text("SELECT id, kcs_licence FROM people ORDER BY id")).all())
    engine.dispose()
    assert licences == {1: "publisher", 2: "candidate"}
