"""Registration hooks refused at startup: two plugins claiming one blueprint, model label, socket
event or job name; reserved socket events; async registration hooks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from quart import Blueprint

from commonly_kernel import Job, Models, SocketHandler, StartupError, hookimpl


@pytest.fixture
def database_url(tmp_path):
    # Nothing here starts a server: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'never-opened.sqlite3'}"


class Notes:
    name = "notes"

    @hookimpl
    def commonly_register_models(self):
        return [Models("notes", ["notes_models"])]

    @hookimpl
    def commonly_register_blueprints(self):
        return [Blueprint("notes", __name__)]


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
    copycat = plugin("copycat", commonly_register_models=[Models("notes", ["notes_models"])])
    with pytest.raises(StartupError, match="model label 'notes' is claimed by both") as refused:
        make_app(plugins=[Notes(), copycat])
    assert {"'notes'", "'copycat'"} <= set(str(refused.value).split()[-3:])


def test_model_label_kernel_refused(make_app):
    rogue = plugin("rogue", commonly_register_models=[Models("kernel", ["kernel_models"])])
    with pytest.raises(StartupError, match="label 'kernel' is claimed by both 'the kernel' and 'rogue'"):
        make_app(plugins=[rogue])


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
