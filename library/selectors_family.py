"""An image's remix family for its page: the ancestors up the chain and the descendants below, only images
the user may see, each with what changed from the image above it (seed, model, prompt words, aspect ratio).

Bounded: at most ``MAX_ANCESTORS`` small queries up (one per level, stopping at the first image the user may
not see), and two down (children, then grandchildren), ``MAX_DESCENDANTS`` images at most.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db.models import QuerySet

from generations.models import Generation, Image
from library.selectors import TILE_UNUSED, visible_images

MAX_ANCESTORS = 5
MAX_DESCENDANTS = 12
MAX_WORDS = 4  # prompt words shown per side of a change ("+storm +night" and minus signs)
RANDOM_SEEDS = (None, -1)
_WORD = re.compile(r"[\w'\N{RIGHT SINGLE QUOTATION MARK}-]+")


@dataclass
class FamilyMember:
    image: Image
    changes: list[str]  # what changed from the image above it in the tree; empty when that is not shown
    is_root: bool = False  # the start of its family (remixed nothing)
    children: list[FamilyMember] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    ancestors: list[FamilyMember]  # oldest first; the last one is the image's parent
    changes: list[str]  # what the image itself changed from its parent (when its parent is shown)
    children: list[FamilyMember]  # remixes of the image, oldest first, each with its own remixes
    more: bool  # it has more descendants than are shown

    @property
    def is_empty(self) -> bool:
        return not self.ancestors and not self.children


def _tiles(user) -> QuerySet[Image]:
    return visible_images(user=user).select_related("generation").defer(*TILE_UNUSED)


def _member(image: Image, parent: Image | None) -> FamilyMember:
    generation = image.generation
    is_root = generation.remixed_from_id is None and generation.family_root in (None, generation.id)
    changes = changes_between(parent.generation, generation) if parent is not None else []
    return FamilyMember(image=image, changes=changes, is_root=is_root)


def image_family(*, user, image: Image) -> Family:
    """The remix family around ``image`` (loaded with its generation) that ``user`` may see."""
    chain: list[Image] = []
    parent_id, seen = image.generation.remixed_from_id, {image.id}
    while parent_id is not None and parent_id not in seen and len(chain) < MAX_ANCESTORS:
        parent = _tiles(user).filter(id=parent_id).first()
        if parent is None:  # deleted meanwhile, or not the user's to see: the chain shown stops here
            break
        chain.append(parent)
        seen.add(parent.id)
        parent_id = parent.generation.remixed_from_id
    chain.reverse()
    ancestors = [_member(one, chain[n - 1] if n else None) for n, one in enumerate(chain)]

    oldest_first = ("created_at", "id")
    remixes = _tiles(user).filter(generation__remixed_from_id=image.id).order_by(*oldest_first)
    children = list(remixes[: MAX_DESCENDANTS + 1])
    more = len(children) > MAX_DESCENDANTS
    members = [_member(child, image) for child in children[:MAX_DESCENDANTS]]
    room = MAX_DESCENDANTS - len(members)
    if members:
        by_id = {member.image.id: member for member in members}
        below = _tiles(user).filter(generation__remixed_from_id__in=list(by_id)).order_by(*oldest_first)
        grandchildren = list(below[: room + 1])
        more = more or len(grandchildren) > room
        for grandchild in grandchildren[:room]:
            above = by_id[grandchild.generation.remixed_from_id]
            above.children.append(_member(grandchild, above.image))
    return Family(
        ancestors=ancestors,
        changes=changes_between(chain[-1].generation, image.generation) if chain else [],
        children=members,
        more=more,
    )


def _words(prompt: str) -> list[str]:
    """The prompt's distinct words, lower-cased, in order."""
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(prompt)))


def _word_list(sign: str, words: list[str]) -> list[str]:
    shown = [f"{sign}{word}" for word in words[:MAX_WORDS]]
    return [*shown, "…"] if len(words) > MAX_WORDS else shown


def changes_between(parent: Generation, child: Generation) -> list[str]:
    """What ``child`` changed from ``parent``, for people: ``["seed 42 → 7", "prompt +storm \u2212calm"]``;
    ``["same parameters"]`` when nothing did (a seed left random counts as a new seed)."""
    changes: list[str] = []
    if child.model != parent.model:
        changes.append(f"model {parent.model} → {child.model}")  # API names: short, as the tiles say
    if child.seed in RANDOM_SEEDS:
        changes.append("new seed")
    elif child.seed != parent.seed:
        before = "random" if parent.seed in RANDOM_SEEDS else parent.seed
        changes.append(f"seed {before} → {child.seed}")
    before_words, after_words = _words(parent.prompt), _words(child.prompt)
    added = [word for word in after_words if word not in before_words]
    removed = [word for word in before_words if word not in after_words]
    if added or removed:
        changes.append("prompt " + " ".join(_word_list("+", added) + _word_list("\N{MINUS SIGN}", removed)))
    elif parent.prompt != child.prompt:
        changes.append("prompt reworded")
    if (child.aspect_ratio or "") != (parent.aspect_ratio or ""):
        changes.append(f"aspect ratio {parent.aspect_ratio or 'default'} → {child.aspect_ratio or 'default'}")
    return changes or ["same parameters"]
