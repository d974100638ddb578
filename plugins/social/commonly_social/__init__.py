"""Commonly's social plugin: posts, threads, people and the activity feed.

Other plugins may use these (and nothing else from this package)::

    from commonly_social import record_activity, create_external_post, get_visible_post, add_comment

    await record_activity(kernel, type="agent_action", actor=actor, action="installed an agent",
                          pod_id=pod.id, visibility="pod")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__version__ = "0.1.0"


async def record_activity(
    kernel: Any,
    *,
    type: str,
    actor: Any,
    action: str,
    content: str = "",
    pod_id: Any = None,
    target: dict[str, Any] | None = None,
    visibility: str = "public",
    recipients: Iterable[Any] = (),
    post_id: int | None = None,
    comment_id: int | None = None,
) -> Any:
    """Record that something happened, for the activity feeds of those who may see it.

    - ``type``: ``message``, ``post``, ``comment``, ``like``, ``follow``, ``agent_action``,
      ``pod_event``, ``integration_publish``, ... (free text, ≤ 40 characters).
    - ``actor``: a kernel ``Actor``, an auth ``User``, ``{"id", "name", "type": human|agent|system}``
      (add ``"userId"`` when an agent acts through a bot account) or None for the system.
      Agents' activities appear under ``mode=actions``, everything else under ``mode=updates``.
    - ``action``: a short phrase ("installed Summarizer"); ``content``: the text it is about.
    - ``visibility``: ``public`` (the actor's followers and the thread's followers), ``pod``
      (the members of ``pod_id``; required then) or ``private`` (``recipients`` only).
    - ``recipients``: user ids, or ``(user_id, reason)`` pairs; reason ``mention`` feeds the
      ``mentions`` filter. They see the activity whatever its visibility.
    - ``target``: ``{"title", "url"}`` for the client's link; ``post_id``/``comment_id`` tie it
      to a thread (deleted with it).

    Call it after your own transaction has committed: it announces the change to the feeds'
    caches when it returns. Returns the stored ``Activity``.
    """
    from . import activity
    from .cache import changed

    stored = await activity.record(kernel, type=type, actor=actor, action=action, content=content, pod_id=pod_id,
                                   target=target, visibility=visibility, recipients=recipients, post_id=post_id,
                                   comment_id=comment_id)
    await changed(kernel)
    return stored


async def create_external_post(
    kernel: Any,
    *,
    author: Any,
    content: str,
    source: dict[str, Any],
    pod_id: str | None = None,
    tags: Sequence[str] = (),
    category: str = "General",
    image: str | None = None,
) -> Any:
    """Store an item from an external network (X, Instagram, ...) as a post with
    ``source.type = "external"``. Only trusted server code calls this; clients cannot.

    ``author`` is the auth ``User`` (or its id) the post is shown under (e.g. the integration's
    bot account); ``source`` holds ``provider`` (required), ``externalId``, ``url``, ``author``,
    ``authorUrl``, ``channel``. ``pod_id`` needs the pods plugin. Fires ``commonly_post_created``.
    Raises ``ValueError`` for bad arguments.
    """
    from . import service

    return await service.create_external_post(kernel, author=author, content=content, source=source, pod_id=pod_id,
                                              tags=tags, category=category, image=image)


async def get_visible_post(kernel: Any, actor: Any, post_id: int | str) -> Any:
    """The post ``actor`` may see, or ``NotFound`` (404) for a missing, malformed or hidden id."""
    from . import service

    return await service.visible_post(kernel, actor, post_id)


async def add_comment(kernel: Any, actor: Any, post_id: int | str, text: str) -> Any:
    """Comment on a visible post as ``actor`` (a user actor: a person or a bot account), with the
    same notifications, activity and ``commonly_comment_created`` hook as the HTTP route.
    Returns the ``Comment``."""
    from . import service

    comment, _ = await service.add_comment(kernel, actor, post_id, text)
    return comment


__all__ = ["add_comment", "create_external_post", "get_visible_post", "record_activity"]
