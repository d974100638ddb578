"""``commonly_register_models`` and ``commonly_register_blueprints`` used for real: two plugins'
Tortoise models (one relating to the other) behind a validated route."""

from __future__ import annotations

import pytest
from pydantic import Field
from quart import Blueprint
from quart_schema import validate_request, validate_response
from tortoise import fields
from tortoise.models import Model

from commonly_kernel import Models, NotFound, RequestBody, WireModel, document_errors, hookimpl

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
    meta: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


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
