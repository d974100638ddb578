"""Request and response bodies of the social plugin (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from commonly_auth import PublicUser
from pydantic import Field, RootModel, field_validator, model_validator

from commonly_kernel import QueryArgs, RequestBody, WireModel

MAX_CONTENT = 10_000
MAX_TAGS = 20
USERNAME_PATTERN = r"^[A-Za-z0-9_-]+$"
#: A post id as a cursor or a body field: decimal digits (the routes answer 404/400 beyond 64 bits).
ID_PATTERN = r"^[0-9]{1,19}$"


def _not_blank(value: str | None) -> str | None:
    if value is None:
        raise ValueError("must not be null")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _clean_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    cleaned: list[str] = []
    for tag in tags:
        tag = tag.strip().lstrip("#").strip()
        if not tag:
            raise ValueError("tags must not be empty")
        if "," in tag:
            raise ValueError("a tag must not contain a comma")
        if tag.lower() not in (seen.lower() for seen in cleaned):
            cleaned.append(tag)
    return cleaned


# -- posts ---------------------------------------------------------------------------------------


class AuthorOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    username: str
    profile_picture: str
    is_bot: bool


class SourceIn(RequestBody):
    """What a client may say about where a post comes from (never ``external``: 400 ``invalid_source``)."""

    type: Literal["user", "pod", "external"]
    provider: str = Field(default="internal", max_length=50)
    external_id: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    author: str | None = Field(default=None, max_length=200)
    author_url: str | None = Field(default=None, max_length=2000)
    channel: str | None = Field(default=None, max_length=200)


class SourceOut(WireModel):
    type: str
    provider: str
    external_id: str | None = Field(default=None, exclude_if=lambda value: value is None)
    url: str | None = Field(default=None, exclude_if=lambda value: value is None)
    author: str | None = Field(default=None, exclude_if=lambda value: value is None)
    author_url: str | None = Field(default=None, exclude_if=lambda value: value is None)
    channel: str | None = Field(default=None, exclude_if=lambda value: value is None)


class PostIn(RequestBody):
    content: str = Field(max_length=MAX_CONTENT)
    image: str | None = Field(default=None, max_length=2000)
    media: str | None = Field(default=None, max_length=2000, description="Alias of `image`.")
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    pod_id: str | None = Field(default=None, max_length=64)
    category: str = Field(default="General", min_length=1, max_length=100)
    source: SourceIn | None = None

    _content = field_validator("content")(_not_blank)
    _tags = field_validator("tags")(_clean_tags)

    @model_validator(mode="after")
    def _one_image(self) -> PostIn:
        if self.image is not None and self.media is not None and self.image != self.media:
            raise ValueError("`image` and `media` are one field: give one of them")
        return self


class PostUpdateIn(RequestBody):
    """Only the fields given change; ``image``/``media`` null removes the image."""

    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    image: str | None = Field(default=None, max_length=2000)
    media: str | None = Field(default=None, max_length=2000, description="Alias of `image`.")
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)
    category: str | None = Field(default=None, min_length=1, max_length=100)

    _content = field_validator("content")(_not_blank)
    _tags = field_validator("tags")(_clean_tags)

    @field_validator("category")
    @classmethod
    def _category_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("must not be null")
        return value

    @model_validator(mode="after")
    def _one_image(self) -> PostUpdateIn:
        if {"image", "media"} <= self.model_fields_set and self.image != self.media:
            raise ValueError("`image` and `media` are one field: give one of them")
        return self


class PostOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    user_id: str
    author: AuthorOut
    #: Flat copies of the author's fields, which the original clients read.
    username: str
    is_bot: bool
    profile_picture: str
    pod_id: str | None
    content: str
    image: str | None
    tags: list[str]
    category: str
    source: SourceOut
    likes: int
    liked: bool
    comment_count: int
    created_at: datetime
    updated_at: datetime


class CommentOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    post_id: str
    user_id: str
    author: AuthorOut
    username: str
    is_bot: bool
    text: str
    reply_to: str | None
    created_at: datetime


class PostDetailOut(PostOut):
    comments: list[CommentOut]


class PostList(RootModel[list[PostOut]]):
    """A bare array of posts; ``X-Next-Cursor`` carries the cursor when there are more."""


class PostListQuery(QueryArgs):
    pod_id: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=100)
    before: str | None = Field(default=None, pattern=ID_PATTERN, description="id of the oldest post already seen")
    limit: int = Field(default=20, ge=1, le=100)


class PostSearchQuery(QueryArgs):
    query: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200, description="Alias of `query`.")
    tags: str | None = Field(default=None, max_length=1000, description="comma list; a post matches any")
    pod_id: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=100, ge=1, le=100)


class LikeOut(WireModel):
    likes: int
    liked: bool


class CommentIn(RequestBody):
    text: str = Field(max_length=MAX_CONTENT)
    pod_id: str | None = Field(default=None, max_length=64)
    reply_to_comment_id: str | None = Field(default=None, max_length=20)

    _text = field_validator("text")(_not_blank)


class ThreadFollowOut(WireModel):
    success: bool
    followed: bool


class ThreadOut(PostOut):
    followed_at: datetime
    new_replies: int


class ThreadListQuery(QueryArgs):
    before: str | None = Field(default=None, pattern=ID_PATTERN, description="post id of the last thread seen")
    limit: int = Field(default=50, ge=1, le=100)


class ThreadList(WireModel):
    threads: list[ThreadOut]
    has_more: bool
    next_cursor: str | None


# -- people --------------------------------------------------------------------------------------


class UserListQuery(QueryArgs):
    q: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)
    before: str | None = Field(default=None, max_length=64, description="id of the last user already seen")


class UserList(RootModel[list[PublicUser]]):
    """A bare array of users; ``X-Next-Cursor`` carries the cursor when there are more."""


class ProfileOut(PublicUser):
    followers_count: int
    following_count: int
    is_following: bool
    #: Only for the user themself and administrators.
    email: str | None = Field(default=None, exclude_if=lambda value: value is None)


class ProfileIn(RequestBody):
    bio: str | None = Field(default=None, max_length=2000)
    avatar: str | None = Field(default=None, max_length=500, description="Alias of `profilePicture`.")
    profile_picture: str | None = Field(default=None, max_length=500)
    interests: list[str] | None = Field(default=None, max_length=50)
    username: str | None = Field(default=None, min_length=2, max_length=50, pattern=USERNAME_PATTERN)

    @field_validator("bio", "avatar", "profile_picture", "interests", "username")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value

    @field_validator("interests")
    @classmethod
    def _short_interests(cls, value: list[str]) -> list[str]:
        if any(len(item) > 100 for item in value):
            raise ValueError("each interest is at most 100 characters")
        return value

    @model_validator(mode="after")
    def _one_picture(self) -> ProfileIn:
        if self.avatar is not None and self.profile_picture is not None and self.avatar != self.profile_picture:
            raise ValueError("`avatar` and `profilePicture` are one field: give one of them")
        return self


class UserPostsQuery(QueryArgs):
    before: str | None = Field(default=None, pattern=ID_PATTERN, description="id of the oldest post already seen")
    limit: int = Field(default=20, ge=1, le=100)


class FollowOut(WireModel):
    success: bool
    following: bool
    followers_count: int


class PodSummaryOut(WireModel):
    id: str
    name: str
    description: str | None
    type: str


class PublicActivityOut(WireModel):
    recent_public_posts: list[PostOut]
    joined_pods: list[PodSummaryOut]


# -- activity feed -------------------------------------------------------------------------------

FeedMode = Literal["updates", "actions"]
FeedFilter = Literal["mentions", "following", "threads", "pods", "humans", "agents", "all"]


class ActivityActorOut(WireModel):
    id: str | None
    name: str
    type: Literal["human", "agent", "system"]


class ActivityTargetOut(WireModel):
    title: str | None = None
    url: str | None = None


class ActivityOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    type: str
    actor: ActivityActorOut
    action: str
    content: str
    pod_id: str | None
    post_id: str | None
    target: ActivityTargetOut | None
    visibility: Literal["public", "pod", "private"]
    read: bool
    created_at: datetime


class FeedQuery(QueryArgs):
    mode: FeedMode = "updates"
    filter: FeedFilter = "all"
    limit: int = Field(default=20, ge=1, le=100)
    before: str | None = Field(default=None, pattern=ID_PATTERN, description="id of the oldest activity already seen")


class UnreadQuery(QueryArgs):
    mode: FeedMode = "updates"
    filter: FeedFilter = "all"


class QuickSocial(WireModel):
    followers: int
    following: int


class QuickThread(WireModel):
    id: str
    post_id: str
    content: str
    pod_id: str | None
    comment_count: int
    new_replies: int
    followed_at: datetime


class QuickSection(WireModel):
    social: QuickSocial
    recent_pods: list[PodSummaryOut]
    followed_threads: list[QuickThread]


class FeedOut(WireModel):
    activities: list[ActivityOut]
    has_more: bool
    next_cursor: str | None
    quick: QuickSection
    unread_count: int


class UnreadOut(WireModel):
    unread_count: int


class MarkReadIn(RequestBody):
    activity_id: str | None = Field(default=None, max_length=20)
    all: bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadIn:
        if self.activity_id is None and not self.all:
            raise ValueError("give `activityId` or `all: true`")
        return self


class MarkReadOut(WireModel):
    success: bool
    last_viewed_at: datetime | None
