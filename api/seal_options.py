"""The sealing options of ``POST /v1/seals/{code}/apply``, validated before any key is touched.

They arrive as multipart form fields (or query parameters beside a raw PDF body), so everything is
a string at first; pydantic turns them into one :class:`esign.seal.pades.SealOptions`, and a bad value is
a 422 naming the field rather than a failure half-way through signing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.problems import request_invalid
from esign.errors import ErrorCode, EsignError
from esign.seal.appearance import AtKeyword, AtPosition, CrossPage, Invisible, Placement
from esign.seal.pades import AvoidAnnotations, Certification, Level, SealOptions, SM2Format

__all__ = ["ApplyOptions", "parse_apply_options"]

#: more pages than any real document has; stops "1-999999999" from becoming a billion-entry tuple
_MAX_CROSS_PAGES = 10_000


class ApplyOptions(BaseModel):
    """Where and how to seal; choose at most one placement (page+x+y, keyword or cross_page)."""

    model_config = ConfigDict(extra="forbid")

    level: Level | None = Field(
        default=None,
        description="PAdES baseline level; B-T and up use the TSA. Default: B-LT when the service has a TSA "
        "(ESIGN_TSA_URL), so that verifiers find the timestamp and revocation data they ask for; else B-B.",
    )
    certification: Certification = Field(
        default=Certification.NONE, description="Certification seal (DocMDP) and what it still allows."
    )
    page: int | None = Field(default=None, ge=-1, le=100_000, description="1-based page, -1 = last.")
    x_mm: float | None = Field(default=None, ge=0, le=2000, description="Seal centre from the left edge.")
    y_mm: float | None = Field(default=None, ge=0, le=2000, description="Seal centre from the top edge.")
    keyword: str | None = Field(default=None, min_length=1, max_length=200, examples=["（盖章）"])
    occurrence: Literal["first", "last"] = "last"
    cross_page: str | None = Field(
        default=None,
        max_length=1000,
        pattern=r"^(all|\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*)$",
        description="Cross-page seal (骑缝章) over these pages, e.g. `all` or `1-4,6`.",
    )
    avoid_annotations: AvoidAnnotations = Field(
        default=AvoidAnnotations.REFUSE,
        description="A visible seal over an existing annotation: `refuse` (409 with a free spot) or `move` "
        "it to the nearest free spot.",
    )
    reason: str | None = Field(default=None, max_length=200, examples=["核发营业执照"])
    location: str | None = Field(default=None, max_length=200)
    sm2_format: SM2Format = Field(
        default=SM2Format.SES,
        description="What an SM2 seal makes: a GB/T 38540 seal signature (ses) or SM2 PKCS#7 (cms); "
        "RSA and ECDSA seals ignore it.",
    )

    @classmethod
    def inline_json_schema(cls) -> dict[str, Any]:
        """The options' JSON schema with its ``$defs`` (the Level and Certification enums) inlined.

        The options are embedded as multipart fields in the OpenAPI document, where pydantic's
        ``#/$defs/…`` references would point at the document's root and resolve to nothing.
        """
        schema = cls.model_json_schema()
        defs = schema.pop("$defs", {})

        def inline(node: Any) -> Any:
            if isinstance(node, dict):
                if "$ref" in node:
                    rest = {key: value for key, value in node.items() if key != "$ref"}
                    return {**inline(defs[node["$ref"].rsplit("/", 1)[1]]), **inline(rest)}
                return {key: inline(value) for key, value in node.items()}
            return [inline(item) for item in node] if isinstance(node, list) else node

        return inline(schema)

    def placement(self) -> Placement:
        chosen = [
            name
            for name, on in (("page", self.page), ("keyword", self.keyword), ("cross_page", self.cross_page))
            if on is not None
        ]
        if len(chosen) > 1:
            raise EsignError(ErrorCode.BAD_OPTION, detail=f"choose one placement, not {' and '.join(chosen)}")
        if self.page is not None:
            if self.x_mm is None or self.y_mm is None:
                raise EsignError(ErrorCode.BAD_OPTION, detail="page needs x_mm and y_mm")
            return AtPosition(self.page, self.x_mm, self.y_mm)
        if self.keyword is not None:
            return AtKeyword(self.keyword, self.occurrence)
        if self.cross_page is not None:
            return CrossPage(None if self.cross_page == "all" else _pages(self.cross_page))
        return Invisible()

    def seal_options(self, default_level: Level = Level.B_B) -> SealOptions:
        return SealOptions(
            level=self.level or default_level,
            certification=self.certification,
            placement=self.placement(),
            avoid_annotations=self.avoid_annotations,
            reason=self.reason,
            location=self.location,
            sm2_format=self.sm2_format,
        )


def _pages(spec: str) -> tuple[int, ...]:
    pages: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        span = range(int(first), int(last or first) + 1)
        if len(pages) + len(span) > _MAX_CROSS_PAGES:
            raise EsignError(ErrorCode.BAD_OPTION, detail=f"at most {_MAX_CROSS_PAGES} cross-page pages")
        pages.extend(span)
    return tuple(pages)


def parse_apply_options(fields: dict[str, Any], default_level: Level = Level.B_B) -> SealOptions:
    try:
        return ApplyOptions.model_validate(fields).seal_options(default_level)
    except ValidationError as exc:
        raise request_invalid(exc.errors()) from None
