"""HTTP routes of the social plugin: thin wrappers over ``service``, ``people`` and ``activity``."""

from __future__ import annotations

import uuid
from typing import Any

import commonly_auth
from commonly_auth import PrivateUser, public_user
from quart import Blueprint
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from commonly_kernel import MessageOut, ValidationFailed, current_actor, document_errors, kernel, require_actor

from . import activity, people, render, service
from .cache import cached
from .schemas import (
    CommentIn,
    CommentOut,
    FeedOut,
    FeedQuery,
    FollowOut,
    LikeOut,
    MarkReadIn,
    MarkReadOut,
    PostDetailOut,
    PostIn,
    PostList,
    PostListQuery,
    PostOut,
    PostSearchQuery,
    PostUpdateIn,
    ProfileIn,
    ProfileOut,
    PublicActivityOut,
    ThreadFollowOut,
    ThreadList,
    ThreadListQuery,
    UnreadOut,
    UnreadQuery,
    UserList,
    UserListQuery,
    UserPostsQuery,
)

blueprint = Blueprint("social", __name__)
tag_blueprint(blueprint, ["social"])

#: People, and agents through their tokens (a bot user token, or a runtime token): they act as
#: their bot user and see what it may see.
signed_in = require_actor()
#: Writing posts, comments, likes and thread follows: an agent's token needs ``posts:write``.
posting = require_actor(scopes=("posts:write",))


def cursor(value: str | None, field: str = "before") -> int | None:
    """A ``before`` cursor (an integer id); 400 when it cannot be one."""
    if value is None:
        return None
    number = service.parse_id(value)
    if number is None:
        raise ValidationFailed(f"`{field}` is not an id.",
                               details=[{"field": field, "message": "not an id", "type": "invalid"}])
    return number


def next_cursor(items: list[Any], has_more: bool) -> dict[str, str]:
    """The ``X-Next-Cursor`` header of a bare-array page."""
    return {"X-Next-Cursor": str(items[-1].id)} if has_more and items else {}


async def post_page(posts: list[Any], has_more: bool) -> tuple[PostList, int, dict[str, str]]:
    views = await service.post_views(posts, current_actor().id)
    return render.post_list(posts, views), 200, next_cursor(posts, has_more)


async def one_post(post: Any) -> PostOut:
    return render.post_out(post, await service.post_views([post], current_actor().id))


# -- posts ---------------------------------------------------------------------------------------


@blueprint.get("/api/posts")
@signed_in
@document_errors(404)
@validate_querystring(PostListQuery)
@cached
@validate_response(PostList)
async def list_posts(query_args: PostListQuery) -> tuple[PostList, int, dict[str, str]]:
    """Posts the caller may see, newest first: the global feed and their pods' posts (or one pod's
    with ``podId``); ``X-Next-Cursor`` when there are more."""
    posts, has_more = await service.list_posts(
        kernel(), current_actor(), pod_id=query_args.pod_id, category=query_args.category,
        before=cursor(query_args.before), limit=query_args.limit,
    )
    return await post_page(posts, has_more)


@blueprint.get("/api/posts/search")
@signed_in
@document_errors(404)
@validate_querystring(PostSearchQuery)
@validate_response(PostList)
async def search_posts(query_args: PostSearchQuery) -> PostList:
    """Case-insensitive search of content, tags and comments (at most 100 posts, newest first)."""
    tags = [tag.strip().lstrip("#").strip() for tag in (query_args.tags or "").split(",")]
    posts = await service.search_posts(
        kernel(), current_actor(), text=query_args.query or query_args.q, tags=[tag for tag in tags if tag],
        pod_id=query_args.pod_id, category=query_args.category, limit=query_args.limit,
    )
    return render.post_list(posts, await service.post_views(posts, current_actor().id))


@blueprint.get("/api/posts/following/threads")
@signed_in
@validate_querystring(ThreadListQuery)
@validate_response(ThreadList)
async def followed_threads(query_args: ThreadListQuery) -> ThreadList:
    """The threads the caller follows (latest followed first), each with ``followedAt`` and ``newReplies``."""
    pairs, new_replies, has_more = await service.followed_threads(
        kernel(), current_actor(), before=cursor(query_args.before), limit=query_args.limit
    )
    posts = [post for _, post in pairs]
    views = await service.post_views(posts, current_actor().id)
    threads = [render.thread_fields(post, views, follow.created_at, new_replies.get(post.id, 0))
               for follow, post in pairs]
    return ThreadList.model_validate({"threads": threads, "has_more": has_more,
                                      "next_cursor": str(posts[-1].id) if has_more and posts else None})


@blueprint.get("/api/posts/<int:post_id>")
@signed_in
@document_errors(404)
@validate_response(PostDetailOut)
async def get_post(post_id: int) -> PostDetailOut:
    """One post with its comments (the latest 500, oldest first)."""
    actor = current_actor()
    post = await service.visible_post(kernel(), actor, post_id)
    comments = await service.comments_of(post)
    views = await service.post_views([post], actor.id)
    users = await service.comment_authors(comments)
    await service.mark_thread_seen(kernel(), actor, post, comments)
    return render.post_detail(post, views, comments, users)


@blueprint.post("/api/posts")
@posting
@document_errors(403, 404)
@validate_request(PostIn)
@validate_response(PostOut, 201)
async def create_post(data: PostIn) -> tuple[PostOut, int]:
    """Post to the global feed, or to a pod the caller belongs to (``podId``)."""
    post = await service.create_post(kernel(), current_actor(), data)
    return await one_post(post), 201


@blueprint.put("/api/posts/<int:post_id>")
@posting
@document_errors(403, 404)
@validate_request(PostUpdateIn)
@validate_response(PostOut)
async def update_post(post_id: int, data: PostUpdateIn) -> PostOut:
    """The author edits content, image (``media``), tags or category."""
    return await one_post(await service.update_post(kernel(), current_actor(), post_id, data))


@blueprint.delete("/api/posts/<int:post_id>")
@posting
@document_errors(403, 404)
@validate_response(MessageOut)
async def delete_post(post_id: int) -> MessageOut:
    """The author, an admin of the post's pod, or a global admin deletes a post."""
    await service.delete_post(kernel(), current_actor(), post_id)
    return MessageOut(message="Post deleted.")


@blueprint.post("/api/posts/<int:post_id>/like")
@posting
@document_errors(404)
@validate_response(LikeOut)
async def toggle_like(post_id: int) -> LikeOut:
    """Like the post, or take the like back."""
    likes, liked = await service.toggle_like(kernel(), current_actor(), post_id)
    return LikeOut(likes=likes, liked=liked)


@blueprint.post("/api/posts/<int:post_id>/comments")
@posting
@document_errors(404)
@validate_request(CommentIn)
@validate_response(CommentOut, 201)
async def add_comment(post_id: int, data: CommentIn) -> tuple[CommentOut, int]:
    """Comment on a post the caller may see; ``@username`` mentions notify those users."""
    actor = current_actor()
    comment, _ = await service.add_comment(kernel(), actor, post_id, data.text, pod_id=data.pod_id,
                                           reply_to=data.reply_to_comment_id)
    return render.comment_out(comment, {actor.id: actor.record}), 201


@blueprint.delete("/api/posts/<int:post_id>/comments/<int:comment_id>")
@posting
@document_errors(403, 404)
@validate_response(MessageOut)
async def delete_comment(post_id: int, comment_id: int) -> MessageOut:
    """The comment's author, the post's author or an administrator deletes a comment."""
    await service.delete_comment(kernel(), current_actor(), post_id, comment_id)
    return MessageOut(message="Comment deleted.")


@blueprint.post("/api/posts/<int:post_id>/follow")
@posting
@document_errors(404)
@validate_response(ThreadFollowOut)
async def follow_thread(post_id: int) -> ThreadFollowOut:
    """Follow the post's thread (idempotent)."""
    await service.follow_thread(kernel(), current_actor(), post_id)
    return ThreadFollowOut(success=True, followed=True)


@blueprint.delete("/api/posts/<int:post_id>/follow")
@posting
@document_errors(404)
@validate_response(ThreadFollowOut)
async def unfollow_thread(post_id: int) -> ThreadFollowOut:
    """Stop following the post's thread (idempotent)."""
    await service.unfollow_thread(kernel(), current_actor(), post_id)
    return ThreadFollowOut(success=True, followed=False)


# -- people --------------------------------------------------------------------------------------


@blueprint.get("/api/users")
@signed_in
@validate_querystring(UserListQuery)
@validate_response(UserList)
async def list_users(query_args: UserListQuery) -> tuple[UserList, int, dict[str, str]]:
    """People, newest first; ``q`` matches usernames; ``X-Next-Cursor`` when there are more."""
    users, has_more = await people.list_users(query_args.q, query_args.limit, query_args.before)
    return UserList(root=[public_user(user) for user in users]), 200, next_cursor(users, has_more)


@blueprint.get("/api/users/<uuid:user_id>")
@signed_in
@document_errors(404)
@validate_response(ProfileOut)
async def get_profile(user_id: uuid.UUID) -> ProfileOut:
    """A public profile with follower counts; the email only for the user themself and admins."""
    found = await people.profile(current_actor(), user_id)
    return ProfileOut.model_validate({
        **public_user(found["user"]).model_dump(), "followers_count": found["followers"],
        "following_count": found["following"], "is_following": found["is_following"], "email": found["email"],
    })


@blueprint.put("/api/users/<uuid:user_id>")
@signed_in
@document_errors(403, 404, 409)
@validate_request(ProfileIn)
@validate_response(PrivateUser)
async def update_profile(user_id: uuid.UUID, data: ProfileIn) -> PrivateUser:
    """Change your own bio, picture (``avatar``), interests or username."""
    user = await people.update_profile(kernel(), current_actor(), user_id, data)
    return commonly_auth.private_user(user)


@blueprint.get("/api/users/<uuid:user_id>/posts")
@signed_in
@document_errors(404)
@validate_querystring(UserPostsQuery)
@validate_response(PostList)
async def user_posts(user_id: uuid.UUID, query_args: UserPostsQuery) -> tuple[PostList, int, dict[str, str]]:
    """That user's posts the caller may see, newest first; ``X-Next-Cursor`` when there are more."""
    user = await people.user_or_404(user_id)
    posts, has_more = await service.list_posts(
        kernel(), current_actor(), pod_id=None, category=None, author_id=str(user.id),
        before=cursor(query_args.before), limit=query_args.limit,
    )
    return await post_page(posts, has_more)


@blueprint.post("/api/users/<uuid:user_id>/follow")
@signed_in
@document_errors(400, 404)
@validate_response(FollowOut)
async def follow_user(user_id: uuid.UUID) -> FollowOut:
    """Follow someone (idempotent; not yourself: 400)."""
    followers = await people.follow(kernel(), current_actor(), user_id)
    return FollowOut(success=True, following=True, followers_count=followers)


@blueprint.delete("/api/users/<uuid:user_id>/follow")
@signed_in
@document_errors(404)
@validate_response(FollowOut)
async def unfollow_user(user_id: uuid.UUID) -> FollowOut:
    """Stop following someone (idempotent)."""
    followers = await people.unfollow(kernel(), current_actor(), user_id)
    return FollowOut(success=True, following=False, followers_count=followers)


@blueprint.get("/api/users/<uuid:user_id>/public-activity")
@signed_in
@document_errors(404)
@validate_response(PublicActivityOut)
async def public_activity(user_id: uuid.UUID) -> PublicActivityOut:
    """A user's latest posts (≤ 8) and pods (≤ 8), of those the caller may see."""
    posts, pod_summaries = await people.public_activity(kernel(), current_actor(), user_id)
    views = await service.post_views(posts, current_actor().id)
    return PublicActivityOut.model_validate({"recent_public_posts": [render.post_fields(post, views) for post in posts],
                                             "joined_pods": pod_summaries})


# -- activity feed -------------------------------------------------------------------------------


@blueprint.get("/api/activity/feed")
@signed_in
@validate_querystring(FeedQuery)
@cached
@validate_response(FeedOut)
async def activity_feed(query_args: FeedQuery) -> FeedOut:
    """The caller's feed, newest first, with unread count and the quick section."""
    actor = current_actor()
    page = await activity.feed(kernel(), actor, mode=query_args.mode, filter_name=query_args.filter,
                               limit=query_args.limit, before=cursor(query_args.before))
    items = [render.activity_fields(item, item.id in page.read_ids) for item in page.activities]
    return FeedOut.model_validate({
        "activities": items, "has_more": page.has_more,
        "next_cursor": str(page.activities[-1].id) if page.has_more else None,
        "quick": await activity.quick(kernel(), actor, page.pod_ids), "unread_count": page.unread_count,
    })


@blueprint.get("/api/activity/unread-count")
@signed_in
@validate_querystring(UnreadQuery)
@cached
@validate_response(UnreadOut)
async def unread_count(query_args: UnreadQuery) -> UnreadOut:
    """How many feed items are unread (at most 100)."""
    count = await activity.unread_count(kernel(), current_actor(), mode=query_args.mode,
                                        filter_name=query_args.filter)
    return UnreadOut(unread_count=count)


@blueprint.post("/api/activity/mark-read")
@signed_in
@document_errors(404)
@validate_request(MarkReadIn)
@validate_response(MarkReadOut)
async def mark_read(data: MarkReadIn) -> MarkReadOut:
    """Mark one activity read (``activityId``) or everything up to now (``all: true``)."""
    viewed_at = await activity.mark_read(kernel(), current_actor(), data.activity_id, bool(data.all))
    return MarkReadOut(success=True, last_viewed_at=viewed_at)
