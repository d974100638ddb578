"""Registration hooks: models, blueprints, socket handlers and jobs — used for real, and refused at
startup when two plugins claim one name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from quart import Blueprint
from quart_schema import validate_request, validate_response
from tortoise import fields
from tortoise.models import Model

from commonly_kernel import (
    Job,
    Models,
    NotFound,
    RequestBody,
    SocketHandler,
    StartupError,
    WireModel,
    document_errors,
    hookimpl,
)

# Tortoise imports model modules by name; pytest registered this module under ``__name__``.
MODELS = __name__


class Note(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    meta = fields.JSONField(default=dict)

    class Meta:
        app = "notes"
        table = "test_notes_note"


class Tag(Model):
    id = fields.IntField(primary_key=True)
    label = fields.CharField(max_length=50)
    note = fields.ForeignKeyField("notes.Note", related_name="tags")

    class Meta:
        app = "tags"
        table = "test_tags_tag"


class NoteIn(RequestBody):
    title: str
    meta: dict[str, str] = {}
    tags: list[str] = []


class NoteOut(WireModel):
    id: str
    title: str
    meta: dict[str, str]
    tag_labels: list[str]


async def note_out(note: Note) -> NoteOut:
    labels = sorted(tag.label for tag in await Tag.filter(note=note))
    return NoteOut(id=str(note.id), title=note.title, meta=note.meta, tag_labels=labels)


def notes_blueprint() -> Blueprint:
    blueprint = Blueprint("notes", __name__, url_prefix="/api/notes")

    @blueprint.post("")
    @validate_request(NoteIn)
    @validate_response(NoteOut, 201)
    async def create_note(data: NoteIn) -> tuple[NoteOut, int]:
        note = await Note.create(title=data.title, meta=data.meta)
        for label in data.tags:
            await Tag.create(label=label, note=note)
        return await note_out(note), 201

    @blueprint.get("/<int:note_id>")
    @document_errors(404)
    @validate_response(NoteOut)
    async def get_note(note_id: int) -> NoteOut:
        note = await Note.get_or_none(id=note_id)
        if note is None:
            raise NotFound("No such note.", code="note_not_found")
        return await note_out(note)

    return blueprint


class Notes:
    name = "notes"

    @hookimpl
    def commonly_register_models(self, settings):
        return [Models("notes", [MODELS])]

    @hookimpl
    def commonly_register_blueprints(self, settings):
        return [notes_blueprint()]


class Tags:
    name = "tags"
    requires = ("notes",)

    @hookimpl
    def commonly_register_models(self):
        return [Models("tags", (MODELS,))]


@pytest.fixture
def commonly_plugins():
    return [Notes(), Tags()]


# -- models and blueprints, for real ------------------------------------------------------------


async def test_register_models_and_blueprints_serve_a_route(client):
    response = await client.post("/api/notes", json={"title": "Groceries", "meta": {"color": "green"},
                                                     "tags": ["home", "errand"]})
    assert response.status_code == 201
    created = response.json()
    assert created == {"id": created["id"], "title": "Groceries", "meta": {"color": "green"},
                       "tagLabels": ["errand", "home"]}
    fetched = await client.get(f"/api/notes/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert await Note.filter(title="Groceries").count() == 1


async def test_register_blueprints_validation_and_not_found(client):
    response = await client.post("/api/notes", json={"title": "x", "colour": "typo"})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "colour"
    missing = await client.get("/api/notes/999")
    assert missing.status_code == 404
    assert missing.json()["error"] == "note_not_found"


async def test_register_models_tables_created_with_labels(app, live_server):
    labels = [model_set.label for model_set in app.kernel.models]
    assert labels[0] == "kernel"
    assert sorted(labels) == ["kernel", "notes", "tags"]
    assert Note._meta.db_table == "test_notes_note"
    assert Tag._meta.fields_map["note"].related_model is Note


async def test_register_blueprints_tagged_in_openapi(client):
    document = (await client.get("/openapi.json")).json()
    assert {"notes_create_note", "notes_get_note"} <= {
        operation["operationId"] for item in document["paths"].values() for operation in item.values()
    }


# -- duplicates and other refusals stop startup -------------------------------------------------


def plugin(name: str, **hooks):
    """A throwaway plugin object named ``name`` implementing ``hooks`` (no-argument functions)."""
    # An argument with a default is never passed by pluggy, so ``result`` stays bound.
    impls = {hook: hookimpl(lambda result=result: result) for hook, result in hooks.items()}
    return SimpleNamespace(name=name, **impls)


def test_duplicate_blueprint_name(make_app):
    copycat = plugin("copycat", commonly_register_blueprints=[Blueprint("notes", __name__)])
    with pytest.raises(StartupError, match="blueprint 'notes' is claimed by both") as refused:
        make_app(plugins=[Notes(), copycat])
    assert {"'notes'", "'copycat'"} <= set(str(refused.value).split()[-3:])


def test_blueprint_named_kernel_refused(make_app):
    with pytest.raises(StartupError, match="blueprint 'kernel'"):
        make_app(plugins=[plugin("rogue", commonly_register_blueprints=[Blueprint("kernel", __name__)])])


def test_duplicate_model_label(make_app):
    copycat = plugin("copycat", commonly_register_models=[Models("notes", [MODELS])])
    with pytest.raises(StartupError, match="model label 'notes' is claimed by both") as refused:
        make_app(plugins=[Notes(), copycat])
    assert {"'notes'", "'copycat'"} <= set(str(refused.value).split()[-3:])


def test_model_label_kernel_refused(make_app):
    with pytest.raises(StartupError, match="model label 'kernel' is claimed by both 'the kernel' and 'rogue'"):
        make_app(plugins=[plugin("rogue", commonly_register_models=[Models("kernel", [MODELS])])])


async def handler(sid, data):
    return data


def test_duplicate_socket_event(make_app):
    first = plugin("first", commonly_register_socket_handlers=[SocketHandler("typing", handler)])
    second = plugin("second", commonly_register_socket_handlers=[SocketHandler("typing", handler)])
    with pytest.raises(StartupError, match="socket event 'typing' in namespace '/' is claimed by both"):
        make_app(plugins=[first, second])


def test_same_socket_event_in_two_namespaces(make_app):
    first = plugin("first", commonly_register_socket_handlers=[SocketHandler("typing", handler)])
    second = plugin("second", commonly_register_socket_handlers=[SocketHandler("typing", handler, "/agents")])
    events = make_app(plugins=[first, second]).kernel.realtime.events
    assert events == {("/", "typing"): "first", ("/agents", "typing"): "second"}


@pytest.mark.parametrize("event", ["connect", "disconnect", "connect_error"])
def test_reserved_socket_event(make_app, event):
    rogue = plugin("rogue", commonly_register_socket_handlers=[SocketHandler(event, handler)])
    with pytest.raises(StartupError, match=f"reserved socket event '{event}'"):
        make_app(plugins=[rogue])


async def job_body(kernel):
    pass


def test_duplicate_job_name(make_app):
    first = plugin("first", commonly_register_jobs=[Job("cleanup", 60, job_body)])
    second = plugin("second", commonly_register_jobs=[Job("cleanup", 30, job_body)])
    with pytest.raises(StartupError, match="job 'cleanup' is claimed by both") as refused:
        make_app(plugins=[first, second])
    assert {"'first'", "'second'"} <= set(str(refused.value).split()[-3:])


@pytest.mark.parametrize("every", [0, -1])
def test_job_needs_positive_interval(make_app, every):
    with pytest.raises(StartupError, match="needs a positive interval"):
        make_app(plugins=[plugin("lazy", commonly_register_jobs=[Job("never", every, job_body)])])


def test_registration_hook_must_not_be_async(make_app):
    class Eager:
        name = "eager"

        @hookimpl
        async def commonly_register_blueprints(self):
            return []

    with pytest.raises(StartupError, match="plugin 'eager': commonly_register_blueprints must not be async"):
        make_app(plugins=[Eager()])


def test_registration_none_means_nothing(make_app):
    app = make_app(plugins=[plugin("quiet", commonly_register_jobs=None, commonly_register_models=None)])
    assert app.kernel.scheduler.jobs == []
    assert [model_set.label for model_set in app.kernel.models] == ["kernel"]
