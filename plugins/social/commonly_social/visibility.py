"""Who sees which posts, as query conditions: global posts for everyone, pod posts for members."""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.expressions import Q


def visible_posts(member_pods: Iterable[str]) -> Q:
    """Global posts, and posts of the pods in ``member_pods``."""
    pod_ids = sorted(member_pods)
    if not pod_ids:
        return Q(pod_id__isnull=True)
    return Q(pod_id__isnull=True) | Q(pod_id__in=pod_ids)


def visible_followed(member_pods: Iterable[str]) -> Q:
    """Followed threads (``ThreadFollow`` rows) whose post a member of ``member_pods`` may still see."""
    pod_ids = sorted(member_pods)
    if not pod_ids:
        return Q(post__pod_id__isnull=True)
    return Q(post__pod_id__isnull=True) | Q(post__pod_id__in=pod_ids)
