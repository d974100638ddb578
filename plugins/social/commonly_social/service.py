"""Posts, comments, likes and followed threads: the logic behind the ``/api/posts`` routes.

Visibility is one rule everywhere (reading, liking, commenting, following): a global post
(``pod_id`` None) is visible to every signed-in user, a pod post only to that pod's members;
anyone else hears 404, so post ids cannot be probed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import commonly_auth
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, BadRequest, Forbidden, Kernel, NotFound

from . import activity, pods, queries
from .cache import changed
from .models import Activity, Comment, Post, PostLike, ThreadFollow
from .visibility import visible_followed, visible_posts

MAX_ID = 2**63 - 1
MAX_COMMENTS_ON_DETAIL = 500
MAX_MENTIONS = 20
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_-]{2,50})")


def parse_id(value: str | int | None) -> int | None:
    """A post/comment/activity id, or None when it cannot be one (so the caller answers 404)."""
    if value is None:
        return None
    text = str(value)
    if not text.isdigit() or int(text) > MAX_ID:
        return None
    return int(text)


def post_not_found() -> NotFound:
    return NotFound("No such post.", code="post_not_found")


# -- visibility ----------------------------------------------------------------------------------


async def can_see(kernel: Kernel, actor: Actor, post: Post) -> bool:
    return post.pod_id is None or await pods.member_role(kernel, post.pod_id, actor.id) is not None


async def visible_post(kernel: Kernel, actor: Actor, post_id: int | str) -> Post:
    """The post if ``actor`` may see it; 404 otherwise (missing, malformed or hidden)."""
    number = parse_id(post_id)
    post = await Post.get_or_none(id=number) if number is not None else None
    if post is None or not await can_see(kernel, actor, post):
        raise post_not_found()
    return post


# -- lists ---------------------------------------------------------------------------------------


async def list_posts(kernel: Kernel, actor: Actor, *, pod_id: str | None, category: str | None,
                     author_id: str | None = None, before: int | None, limit: int) -> tuple[list[Post], bool]:
    """Newest first: the posts ``actor`` may see, narrowed by pod, category or author."""
    if pod_id is not None:
        pod_ids, include_global = [await pods.member_pod(kernel, actor, pod_id)], False
    else:
        pod_ids, include_global = sorted(await pods.member_pod_ids(kernel, actor.id)), True
    rows = await queries.newest_posts(pod_ids=pod_ids, include_global=include_global, category=category or None,
                                      author_id=author_id, before=before, limit=limit + 1)
    return rows[:limit], len(rows) > limit


async def search_posts(kernel: Kernel, actor: Actor, *, text: str | None, tags: Sequence[str], pod_id: str | None,
                       category: str | None, limit: int) -> list[Post]:
    """Case-insensitive match of ``text`` on content, tags and comment text, and of any of ``tags``;
    newest first, among the posts ``actor`` may see."""
    condition = _search_filter(text, tags)
    if condition is None:  # nothing to match: the newest posts, read the cheap way
        posts, _ = await list_posts(kernel, actor, pod_id=pod_id, category=category, before=None, limit=limit)
        return posts
    if pod_id is not None:
        query = Post.filter(pod_id=await pods.member_pod(kernel, actor, pod_id))
    else:
        query = Post.filter(visible_posts(await pods.member_pod_ids(kernel, actor.id)))
    if category:
        query = query.filter(category=category)
    return await query.filter(condition).order_by("-id").limit(limit)


def _search_filter(text: str | None, tags: Sequence[str]) -> Q | None:
    conditions = []
    text = (text or "").strip()
    if text:
        in_comments = Subquery(Comment.filter(text__icontains=text).values("post_id"))
        conditions.append(Q(content__icontains=text) | Q(tag_index__icontains=text) | Q(id__in=in_comments))
    if tags:
        conditions.append(Q(*[Q(tag_index__icontains=f",{tag.lower()},") for tag in tags], join_type="OR"))
    if not conditions:
        return None
    return Q(*conditions)


# -- rendering in bulk ---------------------------------------------------------------------------


@dataclass
class PostViews:
    """What a list needs besides the rows: their authors and which ones the viewer liked."""

    authors: dict[str, Any]
    liked: set[int]


async def post_views(posts: Sequence[Post], viewer_id: str) -> PostViews:
    """Authors and like state of ``posts`` in two queries, however many posts."""
    if not posts:
        return PostViews({}, set())
    # Lists read their authors with the posts (``queries``); other posts need one more query.
    authors = {str(post.author_id): post.author_view for post in posts if getattr(post, "author_view", None)}
    missing = {str(post.author_id) for post in posts} - set(authors)
    if missing:
        authors.update(await commonly_auth.users_by_ids(missing))
    liked = set(await PostLike.filter(user_id=viewer_id, post_id__in=[post.id for post in posts])
                .values_list("post_id", flat=True))
    return PostViews(authors, liked)


async def comment_authors(comments: Sequence[Comment]) -> dict[str, Any]:
    return await commonly_auth.users_by_ids({str(comment.author_id) for comment in comments})


async def comments_of(post: Post) -> list[Comment]:
    """The latest comments of a post (at most 500), oldest first."""
    newest = await Comment.filter(post_id=post.id).order_by("-id").limit(MAX_COMMENTS_ON_DETAIL)
    return newest[::-1]


async def mark_thread_seen(kernel: Kernel, actor: Actor, post: Post, comments: Sequence[Comment]) -> None:
    """Reading a followed thread clears its ``newReplies``."""
    if comments and await ThreadFollow.filter(
        user_id=actor.id, post_id=post.id, seen_comment_id__lt=comments[-1].id
    ).update(seen_comment_id=comments[-1].id):
        await changed(kernel)


# -- writing posts -------------------------------------------------------------------------------


def tag_index(tags: Iterable[str]) -> str:
    return "," + "".join(f"{tag.lower()}," for tag in tags)


def _client_source(source: Any, pod_id: str | None) -> dict[str, Any]:
    if source is None:
        return {"type": "pod" if pod_id else "user", "provider": "internal"}
    if source.type == "external" or source.provider != "internal":
        raise BadRequest("Only the server's integrations may create external posts.", code="invalid_source")
    if source.type == "pod" and pod_id is None:
        raise BadRequest("A post with `source.type: pod` needs a `podId`.", code="invalid_source")
    return {key: value for key, value in source.model_dump().items() if value is not None}


async def create_post(kernel: Kernel, actor: Actor, data: Any) -> Post:
    """A post by ``actor`` (in a pod it belongs to, when ``podId`` is given)."""
    pod_id = await pods.member_pod(kernel, actor, data.pod_id, write=True) if data.pod_id is not None else None
    source = _client_source(data.source, pod_id)
    async with in_transaction():
        post = await Post.create(
            author_id=actor.id, pod_id=pod_id, content=data.content, image=data.image or data.media,
            tags=data.tags, tag_index=tag_index(data.tags), category=data.category, source=source,
        )
        await _record_post(kernel, actor, post)
    await changed(kernel)
    await kernel.hooks.post_created(post)
    return post


async def _record_post(kernel: Kernel, actor: Any, post: Post) -> None:
    await activity.record(
        kernel, type="post", actor=actor, action="posted in a pod" if post.pod_id else "posted",
        content=post.content, pod_id=post.pod_id, visibility="pod" if post.pod_id else "public", post_id=post.id,
        target={"title": _title(post.content), "url": f"/thread/{post.id}"},
    )


def _title(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:80]


async def create_external_post(kernel: Kernel, *, author: Any, content: str, source: dict[str, Any],
                               pod_id: str | None = None, tags: Sequence[str] = (), category: str = "General",
                               image: str | None = None) -> Post:
    """See ``commonly_social.create_external_post``."""
    if not content or not content.strip() or len(content) > 10_000:
        raise ValueError("content must be 1 to 10,000 characters")
    if not source.get("provider"):
        raise ValueError("an external source needs a provider")
    author_id = str(getattr(author, "id", author))
    canonical_pod = None
    if pod_id is not None:
        pods.require_pods(kernel)
        canonical_pod = pods.normalise_pod_id(str(pod_id))
        if canonical_pod is None:
            raise ValueError("pod_id is not a pod id")
    allowed = ("provider", "externalId", "url", "author", "authorUrl", "channel")
    stored = {"type": "external", **{key: str(source[key]) for key in allowed if source.get(key) is not None}}
    tags = list(tags)
    post = await Post.create(author_id=author_id, pod_id=canonical_pod, content=content, image=image, tags=tags,
                             tag_index=tag_index(tags), category=category, source=stored)
    await changed(kernel)
    await kernel.hooks.post_created(post)
    return post


async def update_post(kernel: Kernel, actor: Actor, post_id: int | str, data: Any) -> Post:
    """The author changes content, image (``media``), tags or category; others 403."""
    post = await visible_post(kernel, actor, post_id)
    if str(post.author_id) != actor.id:
        raise Forbidden("Only the author may edit a post.", code="not_author")
    given = data.model_fields_set
    fields = []
    if data.content is not None:
        post.content = data.content
        fields.append("content")
    if given & {"image", "media"}:
        post.image = data.image if "image" in given else data.media
        fields.append("image")
    if data.tags is not None:
        post.tags, post.tag_index = data.tags, tag_index(data.tags)
        fields += ["tags", "tag_index"]
    if data.category is not None:
        post.category = data.category
        fields.append("category")
    if fields:
        await post.save(update_fields=[*fields, "updated_at"])
        await changed(kernel)
    return post


async def delete_post(kernel: Kernel, actor: Actor, post_id: int | str) -> None:
    """The author, an admin of the post's pod, or a global admin deletes a post (and its thread)."""
    number = parse_id(post_id)
    post = await Post.get_or_none(id=number) if number is not None else None
    if post is None:
        raise post_not_found()
    if not await _may_moderate(kernel, actor, post, str(post.author_id)):
        if actor.is_admin or await can_see(kernel, actor, post):
            raise Forbidden("Only the author or an administrator may delete this post.", code="not_allowed")
        raise post_not_found()
    async with in_transaction():
        # The post first: a comment being added now waits on its foreign key and then fails (404),
        # so no activity of a new comment can be written after the activities are deleted.
        await post.delete()
        await Activity.filter(post_id=post.id).delete()
    await changed(kernel)


async def _may_moderate(kernel: Kernel, actor: Actor, post: Post, owner_id: str) -> bool:
    """The owner, a global admin, or an admin of the post's pod."""
    if owner_id == actor.id or actor.is_admin:
        return True
    return await pods.member_role(kernel, post.pod_id, actor.id) == "admin"


# -- likes ---------------------------------------------------------------------------------------


async def toggle_like(kernel: Kernel, actor: Actor, post_id: int | str) -> tuple[int, bool]:
    """Like the post, or take the like back; returns (likes, liked)."""
    post = await visible_post(kernel, actor, post_id)
    try:
        async with in_transaction():
            liked = await _toggle(kernel, actor, post)
    except IntegrityError:
        # Two likes from one user at once: the other request won; report the state it left.
        liked = await PostLike.exists(post_id=post.id, user_id=actor.id)
    await changed(kernel)
    likes = await Post.filter(id=post.id).values_list("like_count", flat=True)
    return (likes[0] if likes else 0), liked


async def _toggle(kernel: Kernel, actor: Actor, post: Post) -> bool:
    if await PostLike.filter(post_id=post.id, user_id=actor.id).delete():
        await Post.filter(id=post.id).update(like_count=F("like_count") - 1)
        return False
    await PostLike.create(post_id=post.id, user_id=actor.id)
    await Post.filter(id=post.id).update(like_count=F("like_count") + 1)
    already_told = await Activity.exists(type="like", actor_user_id=actor.id, post_id=post.id)
    if str(post.author_id) != actor.id and not already_told:
        await activity.record(
            kernel, type="like", actor=actor, action="liked your post", content=_title(post.content),
            pod_id=post.pod_id, visibility="private", recipients=[(post.author_id, "author")], post_id=post.id,
            target={"title": _title(post.content), "url": f"/thread/{post.id}"},
        )
    return True


# -- comments ------------------------------------------------------------------------------------


def mentioned_names(text: str) -> list[str]:
    """The distinct ``@usernames`` in ``text``, lower-cased, in order of appearance."""
    names: list[str] = []
    for match in MENTION.finditer(text):
        name = match.group(1).lower()
        if name not in names:
            names.append(name)
    return names[:MAX_MENTIONS]


async def add_comment(kernel: Kernel, actor: Actor, post_id: int | str, text: str, *, pod_id: str | None = None,
                      reply_to: str | None = None) -> tuple[Comment, Post]:
    """Comment on a visible post; tells its author, its followers and the people it mentions."""
    post = await visible_post(kernel, actor, post_id)
    _check_pod_matches(kernel, post, pod_id)
    reply_id = await _reply_target(post, reply_to)
    names = mentioned_names(text)
    found = await commonly_auth.users_by_usernames(names)
    mentioned = {name: found[name] for name in names if name in found}  # in order of appearance
    told = await _mention_recipients(kernel, post, mentioned.values())
    try:
        comment = await _store_comment(kernel, actor, post, text, reply_id, told)
    except IntegrityError:
        # The post was deleted since we read it (the comment's foreign key refused it): the same
        # 404 as for a post that was already gone.
        if not await Post.exists(id=post.id):
            raise post_not_found() from None
        raise
    post.comment_count += 1
    await changed(kernel)
    await kernel.hooks.comment_created(comment, post, list(mentioned))
    for user_id in told:
        if user_id != actor.id:
            await pods.notify(kernel, user_id, {
                "type": "mention", "postId": str(post.id), "commentId": str(comment.id),
                "from": {"id": actor.id, "username": actor.username}, "text": text[:200],
            })
    return comment, post


async def _store_comment(kernel: Kernel, actor: Actor, post: Post, text: str, reply_id: int | None,
                         told: list[str]) -> Comment:
    """The comment, its post's count and its activity, in one transaction."""
    async with in_transaction():
        comment = await Comment.create(post_id=post.id, author_id=actor.id, text=text, reply_to=reply_id)
        await Post.filter(id=post.id).update(comment_count=F("comment_count") + 1)
        followers = await ThreadFollow.filter(post_id=post.id).values_list("user_id", flat=True)
        recipients = [(user_id, "mention") for user_id in told]
        recipients += [(post.author_id, "author"), *((user_id, "thread") for user_id in followers)]
        await activity.record(
            kernel, type="comment", actor=actor, action="commented on a post", content=text, pod_id=post.pod_id,
            visibility="pod" if post.pod_id else "public", recipients=recipients, post_id=post.id,
            comment_id=comment.id, target={"title": _title(post.content), "url": f"/thread/{post.id}"},
        )
    return comment


def _check_pod_matches(kernel: Kernel, post: Post, pod_id: str | None) -> None:
    if pod_id is None:
        return
    pods.require_pods(kernel)
    if post.pod_id is None or pods.normalise_pod_id(pod_id) != str(post.pod_id):
        raise BadRequest("`podId` is not the pod of this post.", code="pod_mismatch")


async def _reply_target(post: Post, reply_to: str | None) -> int | None:
    if reply_to is None:
        return None
    number = parse_id(reply_to)
    if number is None or not await Comment.exists(id=number, post_id=post.id):
        raise BadRequest("`replyToCommentId` is not a comment of this post.", code="invalid_reply")
    return number


async def _mention_recipients(kernel: Kernel, post: Post, users: Iterable[Any]) -> list[str]:
    """Of the mentioned users, those who may see the post (nobody learns of a hidden post)."""
    told = []
    for user in users:
        if post.pod_id is None or await pods.member_role(kernel, post.pod_id, str(user.id)) is not None:
            told.append(str(user.id))
    return told


async def delete_comment(kernel: Kernel, actor: Actor, post_id: int | str, comment_id: int | str) -> None:
    """The comment's author, the post's author, a pod admin or a global admin deletes a comment."""
    post = await visible_post(kernel, actor, post_id)
    number = parse_id(comment_id)
    comment = await Comment.get_or_none(id=number, post_id=post.id) if number is not None else None
    if comment is None:
        raise _comment_not_found()
    if str(comment.author_id) != actor.id and not await _may_moderate(kernel, actor, post, str(post.author_id)):
        raise Forbidden("Only the comment's or the post's author may delete this comment.", code="not_allowed")
    async with in_transaction():
        # Only the request that removed the row counts it down: a concurrent delete of the same
        # comment finds nothing left and answers as for a missing comment.
        if not await Comment.filter(id=comment.id).delete():
            raise _comment_not_found()
        await Activity.filter(comment_id=comment.id).delete()
        await Post.filter(id=post.id).update(comment_count=F("comment_count") - 1)
    await changed(kernel)


def _comment_not_found() -> NotFound:
    return NotFound("No such comment.", code="comment_not_found")


# -- followed threads ----------------------------------------------------------------------------


async def follow_thread(kernel: Kernel, actor: Actor, post_id: int | str) -> None:
    """Follow a visible post's thread (idempotent); only later comments count as new."""
    post = await visible_post(kernel, actor, post_id)
    if await ThreadFollow.exists(user_id=actor.id, post_id=post.id):
        return
    last = await Comment.filter(post_id=post.id).order_by("-id").first().values_list("id", flat=True)
    with contextlib.suppress(IntegrityError):  # a concurrent follow of the same thread made it already
        await ThreadFollow.create(user_id=actor.id, post_id=post.id, seen_comment_id=last or 0)
    await changed(kernel)


async def unfollow_thread(kernel: Kernel, actor: Actor, post_id: int | str) -> None:
    post = await visible_post(kernel, actor, post_id)
    if await ThreadFollow.filter(user_id=actor.id, post_id=post.id).delete():
        await changed(kernel)


async def followed_threads(kernel: Kernel, actor: Actor, *, before: int | None, limit: int
                           ) -> tuple[list[tuple[ThreadFollow, Post]], dict[int, int], bool]:
    """The threads ``actor`` follows and may still see, latest followed first, with new replies."""
    member_pods = await pods.member_pod_ids(kernel, actor.id)
    query = ThreadFollow.filter(user_id=actor.id).filter(visible_followed(member_pods))
    if before is not None:
        cursor = await ThreadFollow.get_or_none(user_id=actor.id, post_id=before)
        if cursor is None:
            raise BadRequest("`before` is not a thread you follow.", code="validation_error")
        query = query.filter(id__lt=cursor.id)
    follows = await query.order_by("-id").limit(limit + 1).select_related("post")
    page = follows[:limit]
    new_replies = await activity.new_reply_counts(actor.id, page)
    return [(follow, follow.post) for follow in page], new_replies, len(follows) > limit
