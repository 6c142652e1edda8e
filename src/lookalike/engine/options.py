"""What a scan is asked to do: :class:`ScanOptions` (and its :class:`MLOptions`), shared by CLI,
TUI and library users. Light on purpose: the UI builds options without importing a stage."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Evidence of originality first (rules/evidence.py), then size: a letterboxed, re-saved or
# edited copy never wins on padded pixels or bytes.
DEFAULT_KEEP_RULES: tuple[str, ...] = (
    "original",
    "content-resolution",
    "encoding",
    "bytes",
    "exif",
    "oldest",
    "shortest-path",
)
KEEP_RULE_NAMES = frozenset(
    DEFAULT_KEEP_RULES
    + ("camera", "unedited", "resolution", "format")
    + ("newest", "longest-path", "quality", "smallest", "lowest-resolution")
)

BY_CHOICES = ("colour", "faces")


@dataclass(frozen=True)
class MLOptions:
    """What the ML stage should do; attached to ``ScanOptions.ml`` (None = stage off)."""

    model: str | None = None  # None: no embeddings; "auto": GPU → embeddings, CPU → off
    device: str = "auto"
    weights: str | None = None
    allow_download: bool | None = None  # None: config key models.allow_download
    similar: bool = False
    similarity: float | None = None  # 0..1; None = tuned default of the model
    by: str | None = None  # "colour" | "faces"
    precision: str = "auto"
    quality: bool = True
    prompt: str | None = None  # aesthetic prompt (CLIP-family models); None = the default

    def __post_init__(self) -> None:
        if self.similarity is not None and not 0.0 <= self.similarity <= 1.0:
            raise ValueError("similarity must be between 0 and 1")
        if self.by is not None and self.by not in BY_CHOICES:
            raise ValueError(f"--by must be one of {', '.join(BY_CHOICES)}")


@dataclass(frozen=True)
class ContentRulesOptions:
    """``scan --rules``: content rules evaluated inside the scan (engine/stages/content.py), on
    the vectors the scan stored, before grouping, so this run's groups already leave out what
    the rules hide or move away."""

    rules: tuple[Any, ...]  # ContentRule (engine/rules/content.py), in the order they are tried
    classifiers: tuple[tuple[str, Any], ...] = ()  # [classifiers.NAME] specs
    model: str | None = None  # embedding model for prompt/prototype rules (None: effnet-lite0)
    weights: str | None = None
    device: str = "auto"
    apply: bool = True  # False (--dry-run): report the hits only; hide and leave out nothing


@dataclass(frozen=True)
class ScanOptions:
    roots: tuple[Path, ...] = ()
    files_from: tuple[Path, ...] = ()  # explicit file list (already read)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_size: int = 0
    hidden: bool = False
    follow_symlinks: bool = False
    one_file_system: bool = False
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    sensitivity: int = 50  # 0..100; 100 = only resized copies
    same: bool = True  # the same-photo tier
    keep_rules: tuple[str, ...] = DEFAULT_KEEP_RULES
    reference: tuple[Path, ...] = ()
    # (folder, rules): groups whose files all lie under folder use its own rule order
    keep_overrides: tuple[tuple[Path, tuple[str, ...]], ...] = ()
    thumbnails: bool = True
    max_pixels: int = 250_000_000  # decompression-bomb guard
    ml: MLOptions | None = None  # embeddings / similar tier / colour / faces (ml_stage.py)
    wait: bool = False  # another scan holds the catalog: wait for it instead of stopping
    max_decode_mb: int = 512  # memory budget of one decode (decode.py); larger images refused
    video: bool = True  # sample and align videos (video_stage.py); False: exact copies only
    video_step: float | None = None  # seconds between samples (None: 1 s, denser for short
    # videos, sparser for long ones: media.video.sample_step)
    video_min_segment: float = 2.0  # shortest matched footage that counts, seconds
    # where decode + features run: "local" (process pool), "ray" (a local Ray), "ray://HOST:PORT"
    executor: str = "local"
    remote_roots: tuple[tuple[str, str], ...] = ()  # (local prefix, prefix on the Ray workers)
    show_rule_hidden: bool = False  # files a content rule hid (engine/hidden.py) take part too
    content_rules: ContentRulesOptions | None = None  # scan --rules (stages/content.py)

    def __post_init__(self) -> None:
        if not 0 <= self.sensitivity <= 100:
            raise ValueError("sensitivity must be between 0 and 100")
        if self.executor not in ("local", "ray") and not self.executor.startswith("ray://"):
            raise ValueError(
                f"unknown executor {self.executor!r}; use local, ray or ray://HOST:PORT"
            )
        rules = list(self.keep_rules) + [r for _, rs in self.keep_overrides for r in rs]
        bad = [r for r in rules if r not in KEEP_RULE_NAMES]
        if bad:
            raise ValueError(
                f"unknown keep rule(s): {', '.join(bad)}; known: {', '.join(sorted(KEEP_RULE_NAMES))}"
            )
