"""Choosing and checking plugins: entry points, the ``COMMONLY_PLUGINS`` allow-list, explicit
lists, declared ``requires``, ``check_pending`` and plugins' own hook specs."""

from __future__ import annotations

import sys
import textwrap
import types

import pluggy
import pytest

from commonly_kernel import StartupError, create_app, hookimpl
from commonly_kernel.plugins import build_plugin_manager, installed_plugins
from commonly_kernel.testing import serve

hookspec = pluggy.HookspecMarker("commonly")


@pytest.fixture
def database_url(tmp_path):
    # Choosing plugins does not depend on the database: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'commonly.sqlite3'}"


def install(site, dist: str, version: str, entry_points: str) -> None:
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[commonly.plugins]\n{entry_points}")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on ``sys.path`` for this test only, where plugin distributions are installed."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("kernel_test_alpha", "kernel_test_beta", "kernel_test_broken"):
        sys.modules.pop(module, None)


@pytest.fixture
def installed(site):
    """Two plugin distributions: ``alpha`` and ``beta`` (which requires alpha)."""
    (site / "kernel_test_alpha.py").write_text(textwrap.dedent("""
        from commonly_kernel import hookimpl

        @hookimpl
        def commonly_startup(kernel):
            kernel.quart.extensions["alpha"] = "started"
    """))
    (site / "kernel_test_beta.py").write_text(textwrap.dedent("""
        from commonly_kernel import hookimpl

        requires = ("alpha",)

        @hookimpl
        def commonly_register_jobs():
            return []
    """))
    install(site, "commonly_alpha", "1.2.3", "alpha = kernel_test_alpha\n")
    install(site, "commonly_beta", "0.4.0", "beta = kernel_test_beta\n")
    return site


def names(app) -> list[str]:
    return sorted(info.name for info in app.kernel.plugins)


# -- entry points and the allow-list ------------------------------------------------------------


def test_entry_points_discovered(installed):
    assert {"alpha", "beta"} <= set(installed_plugins())


def test_allow_list_narrows_installed_plugins(installed, make_settings):
    app = create_app(make_settings(COMMONLY_PLUGINS="alpha"))
    assert names(app) == ["alpha"]
    assert app.kernel.plugins[0].version == "1.2.3"
    assert app.kernel.plugins[0].hooks == ("commonly_startup",)


def test_allow_list_with_spaces_and_dependencies(installed, make_settings):
    app = create_app(make_settings(COMMONLY_PLUGINS=" beta , alpha "))
    assert names(app) == ["alpha", "beta"]
    beta = next(info for info in app.kernel.plugins if info.name == "beta")
    assert (beta.version, beta.requires) == ("0.4.0", ("alpha",))


@pytest.mark.parametrize("allow", [None, ""])
def test_allow_list_unset_loads_every_installed_plugin(installed, make_settings, allow):
    # An empty value counts as unset, like every other setting.
    app = create_app(make_settings(COMMONLY_PLUGINS=allow))
    assert names(app) == sorted(installed_plugins())
    assert {"alpha", "beta"} <= set(names(app))


def test_allow_list_unknown_name(installed, make_settings):
    with pytest.raises(StartupError, match=r"plugin 'gamma' is not installed \(installed: .*alpha, .*beta"):
        create_app(make_settings(COMMONLY_PLUGINS="alpha,gamma"))


def test_allow_list_missing_requirement(installed, make_settings):
    with pytest.raises(StartupError, match="plugin 'beta' requires 'alpha', which is not loaded"):
        create_app(make_settings(COMMONLY_PLUGINS="beta"))


def test_entry_point_import_error_names_the_plugin(site, make_settings):
    (site / "kernel_test_broken.py").write_text("import a_module_that_does_not_exist\n")
    install(site, "commonly_broken", "0.1", "broken = kernel_test_broken\n")
    with pytest.raises(StartupError, match="plugin 'broken' failed to import: No module named"):
        create_app(make_settings(COMMONLY_PLUGINS="broken"))


def test_explicit_list_ignores_allow_list(installed, make_settings):
    app = create_app(make_settings(COMMONLY_PLUGINS="beta"), plugins=["alpha"])
    assert names(app) == ["alpha"]


async def test_entry_point_plugin_runs(installed, make_settings):
    app = create_app(make_settings(COMMONLY_PLUGINS="alpha"))
    async with serve(app):
        assert app.quart.extensions["alpha"] == "started"


# -- explicit plugin lists ----------------------------------------------------------------------


def test_unknown_plugin_name(make_app):
    with pytest.raises(StartupError, match="plugin 'no-such-plugin' is not installed"):
        make_app(plugins=["no-such-plugin"])


def test_plugin_names_from_objects(make_app):
    module = types.ModuleType("commonly_test_module_plugin")
    module.__version__ = "2.0"
    module.commonly_startup = hookimpl(lambda: None)

    class Named:
        name = "named"

    class Anonymous:
        pass

    app = make_app(plugins=[module, Named(), Anonymous()])
    infos = {info.name: info for info in app.kernel.plugins}
    assert set(infos) == {"commonly_test_module_plugin", "named", "Anonymous"}
    assert infos["commonly_test_module_plugin"].version == "2.0"
    assert infos["commonly_test_module_plugin"].hooks == ("commonly_startup",)
    assert infos["named"].hooks == ()


def test_two_plugins_one_name(make_app):
    class One:
        name = "same"

    class Two:
        name = "same"

    with pytest.raises(StartupError, match="two plugins are named 'same'"):
        make_app(plugins=[One(), Two()])


def test_requires_missing(make_app):
    class Social:
        name = "social"
        requires = ("auth", "pods")

    class Pods:
        name = "pods"

    with pytest.raises(StartupError, match="plugin 'social' requires 'auth', which is not loaded") as refused:
        make_app(plugins=[Social(), Pods()])
    assert "COMMONLY_PLUGINS" in str(refused.value)


def test_requires_satisfied(make_app):
    class Auth:
        name = "auth-like"

    class Social:
        name = "social"
        requires = ("auth-like",)

    app = make_app(plugins=[Social(), Auth()])
    requires = {info.name: info.requires for info in app.kernel.plugins}
    assert requires == {"social": ("auth-like",), "auth-like": ()}


def test_unknown_hook_impl_name(make_app):
    class Typo:
        name = "typo"

        @hookimpl
        def commonly_startpu(self, kernel):
            pass

    with pytest.raises(StartupError, match="plugin 'typo' implements an unknown hook") as refused:
        make_app(plugins=[Typo()])
    assert "commonly_startpu" in str(refused.value)


def test_hook_impl_with_unknown_argument(make_app):
    class Wrong:
        name = "wrong"

        @hookimpl
        def commonly_startup(self, kernel, colour):
            pass

    with pytest.raises(StartupError, match="plugin 'wrong' is invalid") as refused:
        make_app(plugins=[Wrong()])
    assert "colour" in str(refused.value)


def test_undecorated_functions_are_not_hooks(make_app):
    class Helper:
        name = "helper"

        def commonly_helper(self):  # no @hookimpl: an ordinary method, not checked
            return 1

    assert make_app(plugins=[Helper()]).kernel.plugins[0].hooks == ()


def test_plugin_managers_are_per_app(make_app):
    class Only:
        name = "only"

    first, second = make_app(plugins=[Only()]), make_app(plugins=[])
    assert first.kernel.pm is not second.kernel.pm
    assert second.kernel.pm.get_plugin("only") is None


# -- commonly_add_hookspecs ---------------------------------------------------------------------


class WidgetSpecs:
    """What a plugin's own ``hookspecs.py`` would hold."""

    @hookspec
    def commonly_widget_made(self, widget: dict) -> list[str]:
        """A widget was made; return labels for it."""


class Widgets:
    name = "widgets"

    @hookimpl
    def commonly_add_hookspecs(self, pm):
        pm.add_hookspecs(WidgetSpecs)


class Labeller:
    name = "labeller"
    requires = ("widgets",)

    @hookimpl
    def commonly_widget_made(self, widget):
        return f"label:{widget['name']}"


def test_add_hookspecs_lets_another_plugin_implement(make_app):
    app = make_app(plugins=[Labeller(), Widgets()])
    assert app.kernel.pm.hook.commonly_widget_made(widget={"name": "cog"}) == ["label:cog"]
    labeller = next(info for info in app.kernel.plugins if info.name == "labeller")
    assert labeller.hooks == ("commonly_widget_made",)


def test_add_hookspecs_missing_spec_is_unknown_hook(make_app):
    class Loner:
        name = "loner"

        @hookimpl
        def commonly_widget_made(self, widget):
            return "x"

    with pytest.raises(StartupError, match="plugin 'loner' implements an unknown hook"):
        make_app(plugins=[Loner()])


def test_add_hookspecs_checks_implementations(make_app):
    class Sloppy:
        name = "sloppy"

        @hookimpl
        def commonly_widget_made(self, gadget):
            return "x"

    with pytest.raises(StartupError, match="sloppy"):
        make_app(plugins=[Sloppy(), Widgets()])


def test_build_plugin_manager_without_app(make_settings):
    pm, infos = build_plugin_manager(make_settings(), [Widgets(), Labeller()])
    assert pm.has_plugin("widgets") and pm.has_plugin("labeller")
    assert [info.name for info in infos] == ["widgets", "labeller"]
